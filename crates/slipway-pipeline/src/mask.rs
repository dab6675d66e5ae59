//! Secret values taken out of what steps print, before a line is stored or shown: the value
//! itself in any letter case (`upper`, `lower`, `title`), reversed, URL-encoded, JSON-escaped,
//! in hex and in base64 (standard or URL-safe, alone or inside a longer encoded text such as a
//! `Basic` authorization header).

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

/// Shown instead of a secret.
pub const MASK: &str = "***";

/// Values this short would hide ordinary words everywhere; they are not masked.
pub const SHORTEST_MASKED: usize = 4;

/// The forms of every known secret, matched without regard to ASCII letter case.
#[derive(Clone, Default)]
pub struct Masker {
    /// ASCII-lower-cased, longest first.
    patterns: Vec<String>,
}

impl std::fmt::Debug for Masker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The patterns are the secrets.
        f.debug_struct("Masker")
            .field("patterns", &self.patterns.len())
            .finish()
    }
}

impl Masker {
    /// A masker of `secrets`; values shorter than [`SHORTEST_MASKED`] are left out.
    pub fn new<S: AsRef<str>>(secrets: impl IntoIterator<Item = S>) -> Masker {
        let mut patterns: Vec<String> = secrets
            .into_iter()
            .filter(|s| s.as_ref().chars().count() >= SHORTEST_MASKED)
            .flat_map(|s| forms(s.as_ref()))
            .filter(|form| form.len() >= SHORTEST_MASKED)
            .map(|form| form.to_ascii_lowercase())
            .collect();
        patterns.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        patterns.dedup();
        Masker { patterns }
    }

    /// Whether there is nothing to mask, so lines pass unchanged.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// `text` with every form of every secret replaced by [`MASK`].
    pub fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.patterns.is_empty() {
            return Cow::Borrowed(text);
        }
        // ASCII lower-casing keeps every byte offset (and char boundary) where it was.
        let lowered = text.to_ascii_lowercase();
        let mut hidden: Vec<(usize, usize)> = Vec::new();
        for pattern in &self.patterns {
            let mut from = 0;
            while let Some(at) = lowered[from..].find(pattern.as_str()) {
                let start = from + at;
                hidden.push((start, start + pattern.len()));
                from = start + 1;
                while !lowered.is_char_boundary(from) {
                    from += 1;
                }
            }
        }
        if hidden.is_empty() {
            return Cow::Borrowed(text);
        }
        hidden.sort_unstable();
        let mut out = String::with_capacity(text.len());
        let mut shown = 0;
        for (start, end) in hidden {
            if end <= shown {
                continue;
            }
            if start >= shown {
                out.push_str(&text[shown..start]);
                out.push_str(MASK);
            }
            shown = end;
        }
        out.push_str(&text[shown..]);
        Cow::Owned(out)
    }
}

/// What a template, a shell or a program could turn `secret` into before printing it.
fn forms(secret: &str) -> Vec<String> {
    let reversed: String = secret.chars().rev().collect();
    // ASCII case is matched anyway; these catch the other letters' case (`PÄSSWÖRT`).
    let mut out = vec![
        secret.to_uppercase(),
        secret.to_lowercase(),
        reversed.to_uppercase(),
        reversed.to_lowercase(),
    ];
    for text in [secret, reversed.as_str()] {
        out.push(text.to_owned());
        out.push(url_encoded(text, false));
        out.push(url_encoded(text, true));
        out.push(
            serde_json::to_string(text)
                .unwrap_or_default()
                .trim_matches('"')
                .to_owned(),
        );
        out.push(text.bytes().map(|b| format!("{b:02x}")).collect());
    }
    // Whole, with its padding (masked as one, leaving no tail behind); then the parts that
    // show inside a longer encoded text.
    out.push(STANDARD.encode(secret));
    out.push(URL_SAFE.encode(secret));
    for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
        out.extend(base64_cores(engine, secret.as_bytes()));
    }
    out
}

/// Percent-encoding of everything but RFC 3986's unreserved characters; `form` writes a space
/// as `+` (HTML forms, Python's `quote_plus`).
fn url_encoded(text: &str, form: bool) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(byte as char)
            }
            b' ' if form => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The characters of base64 that depend on `secret`'s bytes only, for each of the three
/// alignments it can have inside a longer encoded text (`user:secret` in a Basic header).
fn base64_cores(engine: &impl Engine, secret: &[u8]) -> Vec<String> {
    (0..3usize)
        .map(|offset| {
            let mut bytes = vec![0u8; offset];
            bytes.extend_from_slice(secret);
            let encoded = engine.encode(&bytes);
            // Character i carries bits [6i, 6i + 6): keep those within the secret's bits.
            let first = (8 * offset).div_ceil(6);
            let end = (8 * (offset + secret.len())) / 6;
            encoded.get(first..end).unwrap_or_default().to_owned()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "Hunter-2 pass/word";

    fn shown(line: &str) -> String {
        Masker::new([SECRET]).mask(line).into_owned()
    }

    #[test]
    fn every_simple_encoding_of_a_secret_is_masked() {
        let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
        for line in [
            SECRET.to_owned(),
            SECRET.to_uppercase(),
            SECRET.to_lowercase(),
            SECRET.chars().rev().collect(),
            SECRET.to_uppercase().chars().rev().collect(),
            "Hunter-2%20pass%2Fword".to_owned(),
            "hunter-2+pass%2fword".to_owned(),
            b64(SECRET),
            URL_SAFE_NO_PAD.encode(SECRET),
            b64(&format!("ada:{SECRET}")),
            b64(&format!("x{SECRET}yz")),
            SECRET.bytes().map(|b| format!("{b:02X}")).collect(),
        ] {
            let masked = shown(&format!("before {line} after"));
            assert!(masked.starts_with("before "), "{masked}");
            assert!(masked.ends_with(" after"), "{masked}");
            assert!(masked.contains(MASK), "`{line}` was shown: {masked}");
            assert!(!masked.contains(&line), "`{line}` was shown: {masked}");
        }
        // A value encoded alone leaves nothing of its padding behind.
        assert_eq!(shown(&b64(SECRET)), MASK);
    }

    #[test]
    fn overlapping_and_repeated_secrets_leave_nothing_behind() {
        let masker = Masker::new(["abcdef", "defghi"]);
        assert_eq!(masker.mask("xabcdefghiy abcdef"), "x***y ***");
        assert_eq!(masker.mask("nothing here"), "nothing here");
        assert_eq!(
            Masker::new(["päss-wört"]).mask("ü PÄSS-WÖRT? päss-wört!"),
            "ü ***? ***!"
        );
    }

    #[test]
    fn short_values_are_not_masked() {
        let masker = Masker::new(["abc", ""]);
        assert!(masker.is_empty());
        assert_eq!(masker.mask("abc"), "abc");
    }
}
