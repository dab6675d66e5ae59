//! A located message about a user's file, rendered the same way for every checker.

use std::fmt::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// How much a diagnostic matters; ordered from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A remark; nothing needs to change.
    Info,
    /// Likely a mistake or a risk; worth fixing.
    Warning,
    /// A mistake: the check fails.
    Error,
}

impl Severity {
    /// The lower-case name reports use: `info`, `warning` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// 1-based line and column (columns count characters, not bytes).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SourceLocation {
    /// Line where the located text starts.
    pub line: usize,
    /// Column where it starts.
    pub column: usize,
    /// Line where it ends.
    pub end_line: usize,
    /// Column just after its last character.
    pub end_column: usize,
}

impl SourceLocation {
    /// A location of no extent, at `line` and `column`.
    pub fn point(line: usize, column: usize) -> Self {
        SourceLocation {
            line,
            column,
            end_line: line,
            end_column: column,
        }
    }

    /// Location of a byte range of `source`.
    pub fn from_span(source: &str, span: Range<usize>) -> Self {
        let (line, column) = line_col(source, span.start);
        let end = span.end.max(span.start);
        let (end_line, end_column) = line_col(source, end);
        SourceLocation {
            line,
            column,
            end_line,
            end_column,
        }
    }
}

/// 1-based line and character column of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(source, offset.min(source.len()));
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = source[line_start..offset].chars().count() + 1;
    (line, column)
}

fn floor_char_boundary(source: &str, mut offset: usize) -> usize {
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// One finding about a user's file: which rule, where, what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Stable rule identifier, e.g. `DF013` or `MF001`.
    pub rule: String,
    /// Short rule name, e.g. `apt-no-recommends`.
    pub name: String,
    /// How much it matters.
    pub severity: Severity,
    /// The file it is about, as the user named it.
    pub file: PathBuf,
    /// Where in the file; `None` for findings about the file as a whole.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub location: Option<SourceLocation>,
    /// Dotted path of the offending field, for structured files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What is wrong, in one sentence.
    pub message: String,
    /// How to fix it, when there is something to say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// The located text holds a secret: the code frame is not shown.
    #[serde(skip)]
    pub redacted: bool,
}

impl Diagnostic {
    /// `file:line:col` (or just the file when the problem has no position).
    pub fn position(&self) -> String {
        match &self.location {
            Some(loc) => format!("{}:{}:{}", self.file.display(), loc.line, loc.column),
            None => self.file.display().to_string(),
        }
    }

    /// Human-readable rendering with a code frame when the source is at hand.
    pub fn render(&self, source: Option<&str>, color: bool) -> String {
        let (bold, red, yellow, blue, reset) = if color {
            ("\x1b[1m", "\x1b[31m", "\x1b[33m", "\x1b[34m", "\x1b[0m")
        } else {
            ("", "", "", "", "")
        };
        let severity_color = match self.severity {
            Severity::Error => red,
            Severity::Warning => yellow,
            Severity::Info => blue,
        };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{bold}{severity_color}{}[{}]{reset}{bold}: {}{reset}",
            self.severity, self.rule, self.message
        );
        let _ = writeln!(out, "  {blue}-->{reset} {}", self.position());
        if let Some(field) = &self.field {
            let _ = writeln!(out, "   {blue}={reset} field: {field}");
        }
        if self.redacted {
            let _ = writeln!(
                out,
                "   {blue}={reset} (the line is not shown: it holds a secret)"
            );
        } else if let (Some(loc), Some(source)) = (&self.location, source)
            && let Some(text) = source.lines().nth(loc.line.saturating_sub(1))
        {
            let gutter = loc.line.to_string();
            let pad = " ".repeat(gutter.len());
            let width = if loc.end_line == loc.line && loc.end_column > loc.column {
                loc.end_column - loc.column
            } else {
                text.chars().count().saturating_sub(loc.column - 1).max(1)
            };
            let text = text.trim_end();
            let _ = writeln!(out, "  {blue}{pad} |{reset}");
            let _ = writeln!(out, "  {blue}{gutter} |{reset} {text}");
            let _ = writeln!(
                out,
                "  {blue}{pad} |{reset} {}{severity_color}{}{reset}",
                " ".repeat(loc.column.saturating_sub(1)),
                "^".repeat(width.min(120))
            );
        }
        if let Some(help) = &self.help {
            let _ = writeln!(out, "   {blue}={reset} help: {help}");
        }
        out
    }
}

/// Relative display of `path` under `base`, falling back to the path itself.
pub fn relative_to(path: &Path, base: &Path) -> PathBuf {
    path.strip_prefix(base)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one_and_in_characters() {
        let src = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        let quote = src.find('"').unwrap();
        assert_eq!(line_col(src, quote), (2, 6));
    }

    #[test]
    fn render_shows_code_frame_and_help() {
        let src = "[x]\nkind = \"blue-gren\"\n";
        let diag = Diagnostic {
            rule: "MF003".into(),
            name: "bad-value".into(),
            severity: Severity::Error,
            file: "slipway.toml".into(),
            location: Some(SourceLocation::from_span(src, 11..22)),
            field: Some("x.kind".into()),
            message: "unknown strategy `blue-gren`".into(),
            help: Some("did you mean `blue-green`?".into()),
            redacted: false,
        };
        let text = diag.render(Some(src), false);
        assert!(text.contains("--> slipway.toml:2:8"), "{text}");
        assert!(text.contains("2 | kind = \"blue-gren\""), "{text}");
        assert!(text.contains("^^^^^^^^^^^"), "{text}");
        assert!(text.contains("help: did you mean `blue-green`?"), "{text}");
    }
}
