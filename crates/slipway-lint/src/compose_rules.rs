//! The CP rules over a compose file.

use slipway_compose::yaml::{Node, Pos, Value};
use slipway_core::manifest::{PlainSecret, plain_secret};

use crate::dockerfile_rules::RawFinding;
use crate::image;

const DATABASE_PORTS: &[u16] = &[
    5432, 3306, 33060, 27017, 6379, 9200, 9300, 1433, 11211, 5984, 1521, 26257,
];

/// The findings of the compose rules for the file `root` was read from (`source`, for suppressions).
pub fn check(root: &Node, source: &str) -> Vec<RawFinding> {
    let mut out = Vec::new();
    let Some(services) = root.get("services") else {
        return out;
    };
    let mut report = |rule: &'static str, pos: Pos, message: String| {
        out.push(RawFinding {
            rule,
            line: pos.line,
            column: pos.column,
            message,
            suppressed: suppressions_above(source, pos.line),
        });
    };
    for (name, service) in services.entries() {
        let name = &name.name;
        // Next to `build:`, `image:` names the image compose builds, not one it pulls
        // (unless told to pull it first with `pull_policy: always`).
        let names_built_image = service.get("build").is_some_and(|b| !b.is_null())
            && service
                .get("pull_policy")
                .and_then(Node::as_text)
                .as_deref()
                != Some("always");
        if let Some(image) = service.get("image").and_then(Node::as_text)
            && !names_built_image
            && !image.contains('$')
            && let Some(parsed) = image::parse(&image)
        {
            let pos = service.key_pos("image").unwrap_or(service.pos);
            match (parsed.tag(), parsed.digest()) {
                (None, None) => report(
                    "CP001",
                    pos,
                    format!("service `{name}` uses `{image}` with no tag, which means `latest`"),
                ),
                (Some("latest"), None) => report(
                    "CP001",
                    pos,
                    format!("service `{name}` uses the moving tag `{image}`"),
                ),
                _ => {}
            }
        }
        if service.get("privileged").and_then(Node::as_bool) == Some(true) {
            report(
                "CP002",
                service.key_pos("privileged").unwrap_or(service.pos),
                format!("service `{name}` runs privileged: it has full access to the host"),
            );
        }
        if let Some(ports) = service.get("ports") {
            for item in ports.items() {
                if let Some((host_ip, container_port)) = published_port(item)
                    && DATABASE_PORTS.contains(&container_port)
                    && host_ip
                        .as_deref()
                        .is_none_or(|ip| matches!(ip, "0.0.0.0" | "::" | "[::]" | ""))
                {
                    report(
                        "CP003",
                        item.pos,
                        format!(
                            "service `{name}` publishes port {container_port} on all interfaces"
                        ),
                    );
                }
            }
        }
        if let Some(depends_on) = service.get("depends_on") {
            for (dependency, spec) in depends_on.entries() {
                let Some(condition) = spec.get("condition") else {
                    continue;
                };
                if condition.as_text().as_deref() != Some("service_healthy") {
                    continue;
                }
                let target = services.get(&dependency.name);
                let has_check = target.and_then(|t| t.get("healthcheck")).is_some_and(|h| {
                    h.get("disable").and_then(Node::as_bool) != Some(true) && !h.is_null()
                });
                if !has_check {
                    let pos = spec.key_pos("condition").unwrap_or(condition.pos);
                    report(
                        "CP004",
                        pos,
                        format!(
                            "`{name}` waits for `{}` to be healthy, but `{}` has no healthcheck",
                            dependency.name, dependency.name
                        ),
                    );
                }
            }
        }
        if let Some(environment) = service.get("environment") {
            match &environment.value {
                Value::Map(entries) => {
                    for (key, value) in entries {
                        if let Some(text) = value.as_text()
                            && let Some(kind) = plain_secret(&key.name, &text)
                        {
                            report("CP005", key.pos, literal_secret(&key.name, name, kind));
                        }
                    }
                }
                Value::Seq(items) => {
                    for item in items {
                        if let Some(text) = item.as_text()
                            && let Some((key, value)) = text.split_once('=')
                            && let Some(kind) = plain_secret(key, value)
                        {
                            report("CP005", item.pos, literal_secret(key, name, kind));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    out
}

fn literal_secret(key: &str, service: &str, kind: PlainSecret) -> String {
    match kind {
        PlainSecret::Named => format!("`{key}` of service `{service}` is a literal secret"),
        PlainSecret::InUrl => {
            format!("`{key}` of service `{service}` has a literal password inside its URL")
        }
    }
}

/// Host IP and container port of a `ports` entry, short or long form.
fn published_port(item: &Node) -> Option<(Option<String>, u16)> {
    if let Value::Map(_) = item.value {
        let target = item.get("target")?.as_text()?.parse().ok()?;
        let host_ip = item.get("host_ip").and_then(Node::as_text);
        return Some((host_ip, target));
    }
    let written = item.as_text()?;
    // A variable without a default leaves that part unknown, which is no host IP either.
    let text = slipway_compose::import::resolve_defaults(&written)
        .unwrap_or_else(|| strip_variables(&written));
    let text = text.split('/').next()?.to_owned();
    // Split on colons outside [brackets].
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ':' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    let host_ip = (parts.len() == 3).then(|| parts[0].trim_matches(['[', ']']).to_owned());
    let container = parts.last()?;
    let (low, high) = match container.split_once('-') {
        Some((low, high)) => (low.parse().ok()?, high.parse().ok()?),
        None => {
            let port = container.parse().ok()?;
            (port, port)
        }
    };
    // A range publishes every port in it: report the database port it contains.
    let port = DATABASE_PORTS
        .iter()
        .copied()
        .find(|p| (low..=high).contains(p))
        .unwrap_or(low);
    Some((host_ip, port))
}

fn strip_variables(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        rest = rest[at..].split_once('}').map_or("", |(_, after)| after);
    }
    out.push_str(rest);
    out
}

/// Rule IDs named by `# slipway-ignore ID: reason` comments directly above `line`.
fn suppressions_above(source: &str, line: usize) -> Vec<String> {
    let lines: Vec<&str> = source.lines().collect();
    let mut ids = Vec::new();
    let mut index = line.saturating_sub(1);
    while index > 0 {
        index -= 1;
        let Some(comment) = lines
            .get(index)
            .map(|l| l.trim())
            .and_then(|l| l.strip_prefix('#'))
        else {
            break;
        };
        if let Some(rest) = comment.trim().strip_prefix("slipway-ignore") {
            let list = rest.split(':').next().unwrap_or_default();
            ids.extend(
                list.split([',', ' '])
                    .filter(|s| !s.is_empty())
                    .map(str::to_ascii_uppercase),
            );
        }
    }
    ids
}
