//! Bringing an imported app onto a project base: the image its Dockerfile builds FROM becomes
//! a base (`base/<name>/Dockerfile`), and the Dockerfile builds FROM `${SLIPWAY_BASE}`, which
//! defaults to that same image so a plain `docker build` still works.

/// How an app's Dockerfile moves onto a base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adoption {
    /// The image the app builds on today, global build arguments resolved.
    pub image: String,
    /// 1-based line of the FROM that changes.
    pub line: usize,
    /// The Dockerfile after the change.
    pub text: String,
    /// The FROM line before and after, for the report.
    pub from_before: String,
    /// The FROM line after the change.
    pub from_after: String,
}

/// Why an app's Dockerfile is left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// It already builds on `${SLIPWAY_BASE}` or on a base of the project.
    OnBase,
    /// Its final stage starts FROM scratch.
    Scratch,
    /// No FROM at all.
    NoFrom,
    /// The image depends on a build argument without a default.
    Unresolved(String),
}

struct From {
    line: usize,
    image: String,
    stage: Option<String>,
}

/// Decides the change for one Dockerfile: the stage built (`target`, else the last) and the
/// stages it grows FROM lead to the image that becomes the base. `bases` are the project's base
/// repositories.
pub fn adopt(dockerfile: &str, target: Option<&str>, bases: &[String]) -> Result<Adoption, Skip> {
    let lines: Vec<&str> = dockerfile.lines().collect();
    let mut froms: Vec<From> = Vec::new();
    let mut global_args: Vec<(String, String)> = Vec::new();
    for (index, raw) in lines.iter().enumerate() {
        let line = raw.trim();
        let mut words = line.split_whitespace();
        let Some(instruction) = words.next() else {
            continue;
        };
        if instruction.eq_ignore_ascii_case("ARG") && froms.is_empty() {
            for word in words {
                if let Some((name, value)) = word.split_once('=') {
                    global_args.push((name.to_owned(), value.trim_matches('"').to_owned()));
                }
            }
            continue;
        }
        if !instruction.eq_ignore_ascii_case("FROM") {
            continue;
        }
        let rest: Vec<&str> = words.filter(|w| !w.starts_with("--")).collect();
        let Some(image) = rest.first() else {
            continue;
        };
        let stage = match rest.get(1) {
            Some(word) if word.eq_ignore_ascii_case("as") => rest.get(2).map(|s| s.to_string()),
            _ => None,
        };
        froms.push(From {
            line: index + 1,
            image: (*image).to_owned(),
            stage,
        });
    }
    let built = target.and_then(|target| {
        froms.iter().find(|f| {
            f.stage
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case(target))
        })
    });
    let mut current = built.or(froms.last()).ok_or(Skip::NoFrom)?;
    // Follow `FROM stage` back to the image the final stage grows from.
    for _ in 0..froms.len() {
        let Some(parent) = froms[..froms
            .iter()
            .position(|f| f.line == current.line)
            .unwrap_or(0)]
            .iter()
            .rev()
            .find(|f| {
                f.stage
                    .as_deref()
                    .is_some_and(|s| s.eq_ignore_ascii_case(&current.image))
            })
        else {
            break;
        };
        current = parent;
    }
    if current.image.eq_ignore_ascii_case("scratch") {
        return Err(Skip::Scratch);
    }
    if current.image.contains("SLIPWAY_BASE") {
        return Err(Skip::OnBase);
    }
    let image = substitute(&current.image, &global_args)
        .ok_or_else(|| Skip::Unresolved(current.image.clone()))?;
    let repository = repository_of(&image);
    if bases.iter().any(|b| repository.ends_with(b.as_str())) {
        return Err(Skip::OnBase);
    }
    let from_before = lines[current.line - 1].to_owned();
    let from_after = replace_word(&from_before, &current.image, "${SLIPWAY_BASE}");
    // The argument goes before the first FROM (a global argument), after other global ones.
    let first_from = froms.first().map_or(0, |f| f.line - 1);
    let mut out: Vec<String> = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        if index == first_from {
            out.push(
                "# The project's base (slipway passes it); a plain build uses the image below."
                    .to_owned(),
            );
            out.push(format!("ARG SLIPWAY_BASE={}", current.image));
        }
        if index + 1 == current.line {
            out.push(from_after.clone());
        } else {
            out.push((*line).to_owned());
        }
    }
    let mut text = out.join("\n");
    if dockerfile.ends_with('\n') {
        text.push('\n');
    }
    Ok(Adoption {
        image,
        line: current.line,
        text,
        from_before,
        from_after,
    })
}

/// `python:3.12-slim@sha256:...` → `python`; `ghcr.io/org/app:1` → `ghcr.io/org/app`.
pub fn repository_of(image: &str) -> String {
    let without_digest = image.split('@').next().unwrap_or(image);
    match without_digest.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo.to_owned(),
        _ => without_digest.to_owned(),
    }
}

/// A base name for an image: its last path component, lower-case letters, digits and `-`.
pub fn base_name_for(image: &str) -> String {
    let repository = repository_of(image);
    let last = repository.rsplit('/').next().unwrap_or(&repository);
    slipway_core::scaffold::project_name_from(last)
}

fn substitute(image: &str, args: &[(String, String)]) -> Option<String> {
    if !image.contains('$') {
        return Some(image.to_owned());
    }
    let mut out = String::new();
    let mut rest = image;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, default, next) = if let Some(inner) = after.strip_prefix('{') {
            let close = inner.find('}')?;
            let body = &inner[..close];
            match body.split_once(":-") {
                Some((name, default)) => (name, Some(default), &inner[close + 1..]),
                None => (body, None, &inner[close + 1..]),
            }
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..len], None, &after[len..])
        };
        let value = args
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
            .or(default)?;
        out.push_str(value);
        rest = next;
    }
    out.push_str(rest);
    Some(out)
}

fn replace_word(line: &str, word: &str, with: &str) -> String {
    let mut out = Vec::new();
    let mut replaced = false;
    for part in line.split(' ') {
        if !replaced && part == word {
            out.push(with.to_owned());
            replaced = true;
        } else {
            out.push(part.to_owned());
        }
    }
    out.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_final_stage_moves_onto_the_base_and_a_plain_build_still_works() {
        let dockerfile = "# syntax=docker/dockerfile:1\nARG PY=3.12\nFROM node:20.11-bookworm-slim AS assets\nRUN npm ci\nFROM python:${PY}-slim AS app\nCOPY --from=assets /x /x\nFROM app AS dev\nCMD [\"flask\", \"run\"]\n";
        let adoption = adopt(dockerfile, None, &[]).unwrap();
        assert_eq!(adoption.image, "python:3.12-slim");
        assert_eq!(adoption.line, 5);
        assert_eq!(adoption.from_after, "FROM ${SLIPWAY_BASE} AS app");
        assert_eq!(
            adoption.text,
            "# syntax=docker/dockerfile:1\nARG PY=3.12\n# The project's base (slipway passes it); a plain build uses the image below.\nARG SLIPWAY_BASE=python:${PY}-slim\nFROM node:20.11-bookworm-slim AS assets\nRUN npm ci\nFROM ${SLIPWAY_BASE} AS app\nCOPY --from=assets /x /x\nFROM app AS dev\nCMD [\"flask\", \"run\"]\n"
        );
        assert_eq!(base_name_for(&adoption.image), "python");
        // The stage compose builds (`target`) decides, not the last one.
        let assets = adopt(dockerfile, Some("assets"), &[]).unwrap();
        assert_eq!(assets.image, "node:20.11-bookworm-slim");
    }

    #[test]
    fn what_already_builds_on_a_base_is_left_alone() {
        assert_eq!(
            adopt("ARG SLIPWAY_BASE\nFROM ${SLIPWAY_BASE}\n", None, &[]),
            Err(Skip::OnBase)
        );
        assert_eq!(
            adopt(
                "FROM registry.internal/shop/base-python:stable\n",
                None,
                &["shop/base-python".into()]
            ),
            Err(Skip::OnBase)
        );
        assert_eq!(
            adopt("FROM golang:1.22 AS build\nFROM scratch\n", None, &[]),
            Err(Skip::Scratch)
        );
        assert_eq!(
            adopt("ARG TAG\nFROM python:${TAG}\n", None, &[]),
            Err(Skip::Unresolved("python:${TAG}".into()))
        );
    }
}
