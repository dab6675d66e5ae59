//! Text that came from outside (branch names, commit messages, step output, comments, names from
//! a branch's slipway.toml) made safe to print on a terminal: an escape sequence in a branch
//! name must not clear the screen, rewrite the window title, move the cursor over earlier lines
//! or write the clipboard.

use std::borrow::Cow;
use std::fmt::Write;

/// `text` with every character a terminal would act on shown as an escape instead: C0 controls
/// but tab (`\x1b`, `\n`, `\r`...), DEL, C1 controls (`\u{9b}` is a one-character CSI) and the
/// bidirectional overrides that make text read differently from what it is. Everything else,
/// including non-ASCII letters, is kept as it is.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !needs_escape(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_are_shown_not_obeyed() {
        assert_eq!(printable("feature/\u{1b}[2Jx"), "feature/\\x1b[2Jx");
        assert_eq!(
            printable("\u{1b}]0;pwned\u{7}title"),
            "\\x1b]0;pwned\\x07title"
        );
        assert_eq!(printable("a\u{9b}31mb"), "a\\u{9b}31mb");
        assert_eq!(printable("two\nlines\r"), "two\\nlines\\r");
        assert_eq!(printable("del\u{7f}"), "del\\x7f");
        assert_eq!(printable("abc\u{202e}fdp.exe"), "abc\\u{202e}fdp.exe");
    }

    #[test]
    fn ordinary_text_is_untouched() {
        for text in [
            "main",
            "feature/prices",
            "tab\tseparated",
            "café – naïve ✓",
            "",
        ] {
            assert!(matches!(printable(text), Cow::Borrowed(t) if t == text));
        }
    }
}
