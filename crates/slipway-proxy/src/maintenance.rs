//! What a route in maintenance answers instead of forwarding: `503 Service Unavailable` with
//! `Retry-After`, and a body the client can read: JSON for a client that asks for JSON more than
//! for HTML, otherwise the project's own page when it gave one, otherwise a small HTML page
//! with the message. Pure: the proxy calls [`reply`] with the request's `Accept` header.

use crate::table::Maintenance;

/// The body of a maintenance answer and its content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The `Content-Type` header.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

/// The largest page a project may give (it travels in one admin command).
pub const PAGE_LIMIT: usize = 48 * 1024;

/// The answer to a request whose `Accept` header is `accept`, for a scope in `maintenance`.
pub fn reply(maintenance: &Maintenance, accept: Option<&str>) -> Reply {
    if wants_json(accept) {
        let body = serde_json::json!({
            "error": "maintenance",
            "message": maintenance.message,
            "retry_after": maintenance.retry_after,
        });
        return Reply {
            content_type: "application/json",
            body: body.to_string(),
        };
    }
    Reply {
        content_type: "text/html; charset=utf-8",
        body: match &maintenance.page {
            Some(page) => page.clone(),
            None => default_page(&maintenance.message),
        },
    }
}

/// Whether an `Accept` header prefers JSON to HTML. JSON (`application/json`, or any
/// `+json` type) wins when its quality is above 0, above HTML's when HTML is named
/// (`text/html`, `application/xhtml+xml`), and not below a wildcard's (`*/*`, `text/*`):
/// `application/json, */*` is JSON, a browser's `text/html,...,*/*;q=0.8` is HTML, and so is a
/// missing header.
pub fn wants_json(accept: Option<&str>) -> bool {
    let Some(accept) = accept else {
        return false;
    };
    let (mut json, mut html, mut wildcard) = (0.0f32, 0.0f32, 0.0f32);
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let quality = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0)
            .clamp(0.0, 1.0);
        let best = match media.as_str() {
            "application/json" => &mut json,
            m if m.ends_with("+json") => &mut json,
            "text/html" | "application/xhtml+xml" => &mut html,
            "*/*" | "text/*" => &mut wildcard,
            _ => continue,
        };
        *best = best.max(quality);
    }
    json > 0.0 && json > html && json >= wildcard
}

/// The page shown when the project has none of its own.
pub fn default_page(message: &str) -> String {
    crate::error_page::page("Down for maintenance", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(message: &str, page: Option<&str>) -> Maintenance {
        Maintenance {
            message: message.into(),
            retry_after: 120,
            page: page.map(str::to_owned),
            since: 0,
        }
    }

    #[test]
    fn json_is_chosen_only_when_the_client_prefers_it() {
        let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert!(!wants_json(Some(browser)));
        assert!(!wants_json(None));
        assert!(!wants_json(Some("*/*")));
        assert!(wants_json(Some("application/json")));
        assert!(wants_json(Some("application/json, text/plain, */*")));
        assert!(wants_json(Some("application/problem+json")));
        assert!(wants_json(Some("Application/JSON; charset=utf-8")));
        assert!(!wants_json(Some("text/html, application/json")));
        assert!(wants_json(Some("text/html;q=0.5, application/json")));
        assert!(!wants_json(Some("application/json;q=0.5, */*")));
        assert!(!wants_json(Some("application/json;q=0")));
        assert!(!wants_json(Some("text/plain")));
    }

    #[test]
    fn a_json_client_gets_the_error_and_the_message() {
        let reply = reply(
            &on("back at 14:00", Some("<p>ours</p>")),
            Some("application/json"),
        );
        assert_eq!(reply.content_type, "application/json");
        let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(body["error"], "maintenance");
        assert_eq!(body["message"], "back at 14:00");
        assert_eq!(body["retry_after"], 120);
    }

    #[test]
    fn a_browser_gets_the_projects_page_or_the_escaped_message() {
        let own = reply(&on("x", Some("<p>ours</p>")), Some("text/html"));
        assert_eq!(own.body, "<p>ours</p>");
        assert!(own.content_type.starts_with("text/html"));
        let default = reply(&on("<b>back</b> at 14:00 & later", None), None);
        assert!(default.content_type.starts_with("text/html"));
        assert!(
            default
                .body
                .contains("<p>&lt;b&gt;back&lt;/b&gt; at 14:00 &amp; later</p>"),
            "{}",
            default.body
        );
        assert!(!default.body.contains("<b>"));
    }
}
