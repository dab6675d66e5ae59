//! What `config explain` and `config diff` may show of a rendered value.
//!
//! A secret contributes to a value in many ways besides appearing in it literally: `| upper`,
//! `| replace(...)`, slicing, `| reverse`, an encoding, a concatenation. Rather than follow
//! the secret through every filter (which would need each filter's semantics, and the ones a
//! future minijinja adds), each template is rendered again with every secret replaced by a
//! stand-in, twice, with different stand-ins ([`stand_in`]). A value that is not the same in
//! all three renders was made from a secret, whatever the template did with it; the part all
//! three share (a URL's scheme and host around a password) is shown, the rest is `****`.
//!
//! A stand-in differs from the secret in every ASCII letter and digit (each moves within its
//! class, so a number stays a number for `| int`), and is longer by one or two characters (so
//! `| length` and slices from the end change too); other characters keep their place, so a
//! secret keeps its shape (a URL stays a URL) and templates that take it apart still render.
//! A third render moves the punctuation too ([`stand_in_with_punctuation`]), so a slice that
//! starts at a `-` of the secret is masked whole; a template that cannot take that one apart
//! (a split on `:` that finds none) simply does not count it.
//!
//! What this does not hide, by design: a decision on a secret (`{% if secret.X == "..." %}`,
//! `| length > 8`) that comes out the same for the secret and the stand-ins shows its outcome,
//! which is at most the one bit the condition asks. A render that fails with the first two
//! stand-ins (a template that only works for the real secret) masks every value of that file.

/// Shifts of the two stand-ins: each letter or digit moves by this much within its class.
pub const STAND_IN_SHIFTS: [u8; 2] = [1, 2];

/// Values made from secrets, or named like one, at least this long are masked in any text
/// (container logs); shorter ones (`on`, `1`) would mask unrelated words.
pub const MIN_DERIVED_MASK_LEN: usize = 6;

/// A stand-in for `secret`: every ASCII letter and digit moved by `shift` within its class,
/// and `shift` more characters at the end.
pub fn stand_in(secret: &str, shift: u8) -> String {
    let mut out: String = secret.chars().map(|c| shift_char(c, shift)).collect();
    let last = secret.chars().last().unwrap_or('x');
    for _ in 0..shift {
        out.push(shift_char(last, shift));
    }
    out
}

/// Like [`stand_in`] with `shift` 3, and every ASCII punctuation character moved by one within
/// its run of the ASCII table (`-` becomes `.`, `@` becomes `:`).
pub fn stand_in_with_punctuation(secret: &str) -> String {
    stand_in(secret, 3)
        .chars()
        .map(|c| {
            let rotate =
                |first: u8, last: u8| (first + (c as u8 - first + 1) % (last - first + 1)) as char;
            match c {
                '!'..='/' => rotate(b'!', b'/'),
                ':'..='@' => rotate(b':', b'@'),
                '['..='`' => rotate(b'[', b'`'),
                '{'..='~' => rotate(b'{', b'~'),
                other => other,
            }
        })
        .collect()
}

fn shift_char(c: char, shift: u8) -> char {
    let rotate = |base: u8, size: u8| (base + (c as u8 - base + shift) % size) as char;
    match c {
        '0'..='9' => rotate(b'0', 10),
        'a'..='z' => rotate(b'a', 26),
        'A'..='Z' => rotate(b'A', 26),
        other => other,
    }
}

/// What to show of `value` when renders with stand-ins gave `others` for the same key (`None`:
/// the key was missing there, or that render failed); `None` when no secret contributed.
pub fn masked_value(value: &str, others: &[Option<&str>]) -> Option<String> {
    if others.iter().all(|other| *other == Some(value)) {
        return None;
    }
    let others: Vec<&str> = match others.iter().copied().collect::<Option<Vec<&str>>>() {
        Some(others) => others,
        // The key's presence, or the whole render, depends on a secret.
        None => return Some("****".to_owned()),
    };
    let chars: Vec<char> = value.chars().collect();
    let alternatives: Vec<Vec<char>> = others.iter().map(|o| o.chars().collect()).collect();
    let prefix = (0..chars.len())
        .take_while(|&i| alternatives.iter().all(|a| a.get(i) == Some(&chars[i])))
        .count();
    let suffix = (0..chars.len() - prefix)
        .take_while(|&i| {
            let c = chars[chars.len() - 1 - i];
            alternatives
                .iter()
                .all(|a| a.len() > prefix + i && a[a.len() - 1 - i] == c)
        })
        .count();
    let head: String = chars[..prefix].iter().collect();
    let tail: String = chars[chars.len() - suffix..].iter().collect();
    Some(format!("{head}****{tail}"))
}

/// Whether a key's name says its value is a secret (`DB_PASSWORD`, `API_KEY`, `JWT_KEY`,
/// `AUTH_TOKEN`, `MYSQL_PWD`, `SENTRY_DSN`), even when the template wrote the value plainly.
/// Not: a `*_FILE`, `*_PATH` or `*_DIR` key whose value is a path (`POSTGRES_PASSWORD_FILE=
/// /run/secrets/db-password` names where the secret is, which is no secret), a `*_URL` (its
/// password, if any, is masked by [`mask_url_password`]), or a public key
/// (`STRIPE_PUBLISHABLE_KEY`, `VAPID_PUBLIC_KEY`: published on purpose).
pub fn names_a_secret(key: &str, value: &str) -> bool {
    let words = slipway_core::manifest::key_words(key);
    let Some(last) = words.last() else {
        return false;
    };
    let is_path = value.starts_with('/') || value.starts_with("./") || value.starts_with("~/");
    if matches!(last.as_str(), "FILE" | "PATH" | "DIR") && (is_path || value.is_empty()) {
        return false;
    }
    if last == "URL" || last == "URI" || last == "HOST" {
        return false;
    }
    if words
        .iter()
        .any(|w| matches!(w.as_str(), "PUBLIC" | "PUBLISHABLE"))
    {
        return false;
    }
    if slipway_core::manifest::looks_secret(key) {
        return true;
    }
    const WORDS: &[&str] = &[
        "PASSWORD",
        "PASSWD",
        "PASS",
        "PWD",
        "SECRET",
        "SECRETS",
        "TOKEN",
        "TOKENS",
        "KEY",
        "KEYS",
        "APIKEY",
        "CREDENTIAL",
        "CREDENTIALS",
        "PRIVATE",
        "DSN",
        "SALT",
        "PASSPHRASE",
        "COOKIE",
    ];
    words.iter().any(|w| WORDS.contains(&w.as_str()))
}

/// A URL's password (`scheme://user:PASSWORD@host`) replaced by `****`.
pub fn mask_url_password(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(scheme_end) = rest.find("://") {
        let authority_start = scheme_end + 3;
        out.push_str(&rest[..authority_start]);
        rest = &rest[authority_start..];
        let authority_end = rest
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace())
            .unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.split_once(':') {
                    Some((user, password)) if !password.is_empty() => {
                        out.push_str(user);
                        out.push_str(":****");
                    }
                    _ => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &rest[authority_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stand_ins_differ_from_the_secret_everywhere_and_keep_its_shape() {
        let secret = "Pw-9f3z@host";
        let one = stand_in(secret, 1);
        let two = stand_in(secret, 2);
        assert_eq!(one, "Qx-0g4a@iptuu");
        assert_eq!(two, "Ry-1h5b@jquvvv");
        for other in [&one, &two] {
            for (a, b) in secret.chars().zip(other.chars()) {
                assert!(a != b || !a.is_ascii_alphanumeric());
            }
        }
        assert_eq!(stand_in_with_punctuation("a-b@c"), "d.e:ffff");
        assert_eq!(stand_in("8080", 1), "91911");
        assert_eq!(stand_in("", 1), "y");
    }

    #[test]
    fn a_value_the_same_under_stand_ins_is_shown_and_any_other_masked_around_what_is_shared() {
        assert_eq!(masked_value("debug", &[Some("debug"), Some("debug")]), None);
        assert_eq!(
            masked_value(
                "postgresql://app:pw@db/x",
                &[
                    Some("postgresql://app:qxx@db/x"),
                    Some("postgresql://app:ryyy@db/x")
                ]
            )
            .as_deref(),
            Some("postgresql://app:****@db/x")
        );
        assert_eq!(
            masked_value("HUNTER2", &[Some("IVOUFS33"), Some("JWPVGT444")]).as_deref(),
            Some("****")
        );
        assert_eq!(
            masked_value("on", &[None, Some("on")]).as_deref(),
            Some("****")
        );
    }

    #[test]
    fn keys_named_like_secrets_are_masked_but_paths_urls_and_public_keys_are_not() {
        for (key, value) in [
            ("DB_PASSWORD", "x"),
            ("API_KEY", "x"),
            ("JWT_KEY", "x"),
            ("SECRET_KEY_BASE", "x"),
            ("githubToken", "x"),
            ("MYSQL_PWD", "x"),
            ("SENTRY_DSN", "https://k@o.ingest/1"),
            ("GOOGLE_APPLICATION_CREDENTIALS", "{}"),
            ("DB_PASSWORD_FILE", "hunter2"),
        ] {
            assert!(names_a_secret(key, value), "{key}");
        }
        for (key, value) in [
            ("POSTGRES_PASSWORD_FILE", "/run/secrets/db-password"),
            ("TLS_KEY_PATH", "/etc/tls/key.pem"),
            ("DATABASE_URL", "postgresql://app:pw@db/x"),
            ("STRIPE_PUBLISHABLE_KEY", "pk_live_1"),
            ("VAPID_PUBLIC_KEY", "BP..."),
            ("KEYBOARD_LAYOUT", "us"),
            ("TOKENIZERS_PARALLELISM", "false"),
            ("LEVEL", "debug"),
        ] {
            assert!(!names_a_secret(key, value), "{key}");
        }
    }

    #[test]
    fn url_passwords_are_masked_and_the_rest_kept() {
        assert_eq!(
            mask_url_password("postgresql://app:pw-9f3@db:5432/x?ssl=1"),
            "postgresql://app:****@db:5432/x?ssl=1"
        );
        assert_eq!(
            mask_url_password("redis://:s3cret@cache/0 amqp://u:p@mq/"),
            "redis://:****@cache/0 amqp://u:****@mq/"
        );
        assert_eq!(
            mask_url_password("https://example.com/a@b"),
            "https://example.com/a@b"
        );
        assert_eq!(
            mask_url_password("https://user@host/"),
            "https://user@host/"
        );
    }
}
