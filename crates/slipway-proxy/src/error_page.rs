//! What the proxy answers itself when it cannot pass a request on (no route, no release, an
//! app that cannot be reached or is too slow, a body or head larger than the route allows): the
//! status, and a small body the client can read, chosen by its `Accept` header as maintenance
//! mode chooses ([`crate::maintenance::wants_json`]): `{"error": CODE, "message": TEXT,
//! "status": N}` for a client that prefers JSON, a small HTML page for everyone else.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{HeaderMap, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use slipway_core::manifest::ByteSize;

use crate::ProxyBody;
use crate::maintenance::{Reply, wants_json};

/// Why the proxy answers a request itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// No route takes the request's host and path.
    NoRoute,
    /// The route has no release taking traffic.
    NoRelease,
    /// No target of the route could be reached, or each one failed.
    Unreachable,
    /// The app did not start answering within the route's `timeout`.
    Timeout,
    /// The body is larger than the route's `max_body` (in bytes).
    BodyTooLarge(u64),
    /// The request line and headers are larger than the route's `max_header` (in bytes).
    HeaderTooLarge(u64),
    /// The request target or body could not be read.
    BadRequest,
}

impl Fault {
    /// The answer's status.
    pub fn status(self) -> StatusCode {
        match self {
            Fault::NoRoute => StatusCode::NOT_FOUND,
            Fault::NoRelease => StatusCode::SERVICE_UNAVAILABLE,
            Fault::Unreachable => StatusCode::BAD_GATEWAY,
            Fault::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Fault::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Fault::HeaderTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Fault::BadRequest => StatusCode::BAD_REQUEST,
        }
    }

    /// The `error` of the JSON answer: a word a program can match.
    pub fn code(self) -> &'static str {
        match self {
            Fault::NoRoute => "no_route",
            Fault::NoRelease => "no_release",
            Fault::Unreachable => "bad_gateway",
            Fault::Timeout => "gateway_timeout",
            Fault::BodyTooLarge(_) => "body_too_large",
            Fault::HeaderTooLarge(_) => "headers_too_large",
            Fault::BadRequest => "bad_request",
        }
    }

    /// The page's heading.
    pub fn title(self) -> &'static str {
        match self {
            Fault::NoRoute => "Not found",
            Fault::NoRelease => "Service unavailable",
            Fault::Unreachable => "Bad gateway",
            Fault::Timeout => "Gateway timeout",
            Fault::BodyTooLarge(_) => "Request too large",
            Fault::HeaderTooLarge(_) => "Request headers too large",
            Fault::BadRequest => "Bad request",
        }
    }

    /// What happened, for a person.
    pub fn message(self) -> String {
        match self {
            Fault::NoRoute => "No app is served at this address.".into(),
            Fault::NoRelease => {
                "The app has no release taking traffic right now. Try again in a moment.".into()
            }
            Fault::Unreachable => "The app could not be reached. Try again in a moment.".into(),
            Fault::Timeout => "The app did not answer in time.".into(),
            Fault::BodyTooLarge(limit) => format!(
                "The request body is larger than this address accepts (at most {}).",
                ByteSize(limit)
            ),
            Fault::HeaderTooLarge(limit) => format!(
                "The request's headers are larger than this address accepts (at most {}); large cookies are the usual cause.",
                ByteSize(limit)
            ),
            Fault::BadRequest => "The request could not be read.".into(),
        }
    }
}

/// The body of the answer to a request whose `Accept` header is `accept`.
pub fn reply(fault: Fault, accept: Option<&str>) -> Reply {
    let message = fault.message();
    if wants_json(accept) {
        let body = serde_json::json!({
            "error": fault.code(),
            "message": message,
            "status": fault.status().as_u16(),
        });
        return Reply {
            content_type: "application/json",
            body: body.to_string(),
        };
    }
    let title = format!("{} {}", fault.status().as_u16(), fault.title());
    Reply {
        content_type: "text/html; charset=utf-8",
        body: page(&title, &message),
    }
}

/// The proxy's answer for `fault` to a request with `headers`; never cached.
pub(crate) fn response(fault: Fault, headers: &HeaderMap) -> Response<ProxyBody> {
    answer(fault, headers.get(header::ACCEPT))
}

/// The proxy's answer for `fault` to a request whose `Accept` header is `accept`.
pub(crate) fn answer(fault: Fault, accept: Option<&HeaderValue>) -> Response<ProxyBody> {
    let reply = reply(fault, accept.and_then(|v| v.to_str().ok()));
    let mut response = Response::new(
        Full::new(Bytes::from(reply.body))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = fault.status();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(reply.content_type),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A small HTML page with a heading and one paragraph; both are escaped.
pub fn page(title: &str, message: &str) -> String {
    let title = slipway_core::html::escape(title);
    let message = slipway_core::html::escape(message);
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title></head>\n<body style=\"font-family: sans-serif; \
         max-width: 36rem; margin: 4rem auto; padding: 0 1rem\">\n<h1>{title}</h1>\n\
         <p>{message}</p>\n</body>\n</html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const BROWSER: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

    #[test]
    fn a_json_client_gets_the_code_the_message_and_the_status() {
        let reply = reply(Fault::Timeout, Some("application/json"));
        assert_eq!(reply.content_type, "application/json");
        let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(body["error"], "gateway_timeout");
        assert_eq!(body["status"], 504);
        assert_eq!(body["message"], "The app did not answer in time.");
    }

    #[test]
    fn a_browser_or_a_client_without_accept_gets_a_page() {
        for accept in [Some(BROWSER), None, Some("*/*")] {
            let reply = reply(Fault::BodyTooLarge(1024 * 1024), accept);
            assert!(reply.content_type.starts_with("text/html"), "{accept:?}");
            assert!(
                reply.body.contains("<h1>413 Request too large</h1>"),
                "{}",
                reply.body
            );
            assert!(reply.body.contains("at most 1MB"), "{}", reply.body);
        }
    }

    #[test]
    fn every_fault_has_its_status_and_reads_without_type_names() {
        for (fault, status) in [
            (Fault::NoRoute, 404),
            (Fault::NoRelease, 503),
            (Fault::Unreachable, 502),
            (Fault::Timeout, 504),
            (Fault::BodyTooLarge(10), 413),
            (Fault::HeaderTooLarge(32 * 1024), 431),
            (Fault::BadRequest, 400),
        ] {
            assert_eq!(fault.status().as_u16(), status);
            let message = fault.message();
            assert!(message.ends_with('.'), "{message}");
            assert!(
                !message.contains("Fault") && !message.contains("::"),
                "{message}"
            );
        }
        assert!(
            Fault::HeaderTooLarge(32 * 1024)
                .message()
                .contains("at most 32KB")
        );
    }

    #[test]
    fn the_page_escapes_what_it_shows() {
        let html = page("a <b>", "x & \"y\"");
        assert!(html.contains("<title>a &lt;b&gt;</title>"));
        assert!(html.contains("<p>x &amp; &quot;y&quot;</p>"));
    }
}
