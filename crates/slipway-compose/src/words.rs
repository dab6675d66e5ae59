//! Compose splits a string `command:` or `entrypoint:` into words the way a POSIX shell
//! would (quotes and backslashes), without running a shell: `--flag="a b" c` is two words.

/// The words of `text`, or a message when a quote is left open.
pub fn split_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut current = String::new();
    // Whether a word has started: `''` is an empty word, not nothing.
    let mut in_word = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => current.push(c),
                        None => return Err("a single quote (') is not closed".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        // Inside double quotes a backslash escapes only these.
                        Some('\\') => match chars.peek() {
                            Some(&next @ ('"' | '\\' | '$' | '`')) => {
                                current.push(next);
                                chars.next();
                            }
                            Some('\n') => {
                                chars.next();
                            }
                            _ => current.push('\\'),
                        },
                        Some(c) => current.push(c),
                        None => return Err("a double quote (\") is not closed".into()),
                    }
                }
            }
            '\\' => match chars.next() {
                // A backslash-newline joins lines.
                Some('\n') => {}
                Some(next) => {
                    in_word = true;
                    current.push(next);
                }
                None => {
                    in_word = true;
                    current.push('\\');
                }
            },
            c => {
                in_word = true;
                current.push(c);
            }
        }
    }
    if in_word {
        words.push(current);
    }
    Ok(words)
}

/// A word as a shell reads it back: bare when it is safe, else single-quoted.
pub fn quote_word(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
    {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        split_words(text).unwrap()
    }

    #[test]
    fn a_single_flag_is_one_word_not_a_shell_script() {
        assert_eq!(
            words("--default-authentication-plugin=mysql_native_password"),
            ["--default-authentication-plugin=mysql_native_password"]
        );
    }

    #[test]
    fn splits_like_a_shell_without_running_one() {
        assert_eq!(
            words("redis-server --appendonly yes   --save ''"),
            ["redis-server", "--appendonly", "yes", "--save", ""]
        );
        assert_eq!(
            words(r#"sh -c "echo \"hi\" && sleep 1""#),
            ["sh", "-c", r#"echo "hi" && sleep 1"#]
        );
        assert_eq!(
            words(r"gunicorn app:app --bind 0.0.0.0:8000 --log-format '%(h)s \n'"),
            [
                "gunicorn",
                "app:app",
                "--bind",
                "0.0.0.0:8000",
                "--log-format",
                r"%(h)s \n"
            ]
        );
        assert_eq!(words(r"a\ b c"), ["a b", "c"]);
        assert_eq!(words("a \\\n  b"), ["a", "b"]);
        // No shell runs it: pipes, globs and variables are plain characters.
        assert_eq!(
            words("echo $HOME | cat *"),
            ["echo", "$HOME", "|", "cat", "*"]
        );
        assert!(words("  ").is_empty());
    }

    #[test]
    fn an_open_quote_is_an_error() {
        assert!(split_words("echo 'open").is_err());
        assert!(split_words("echo \"open").is_err());
    }

    #[test]
    fn quoting_round_trips() {
        for word in ["plain", "two words", "it's", "", "$HOME", "a\"b"] {
            assert_eq!(words(&quote_word(word)), [word]);
        }
    }
}
