//! Just enough of POSIX shell to find the simple commands of a RUN script: quoting, escapes,
//! operators (`&&`, `||`, `;`, `|`, `&`, newlines), subshells and variable expansions.

/// One word of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The word with quotes removed.
    pub text: String,
    /// Whether any part came from a `$` expansion (or a command substitution).
    pub dynamic: bool,
}

/// A command with its arguments, between operators (`&&`, `|`, `;`...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleCommand {
    /// Its words, redirections dropped.
    pub words: Vec<Word>,
    /// Inside `( ... )`: a `cd` there does not leak out.
    pub in_subshell: bool,
    /// Followed by `|` (or `|&`): its output feeds the next command.
    pub pipes_into_next: bool,
}

impl SimpleCommand {
    /// The command's words with leading `VAR=value` assignments and wrappers (`sudo`, `env`,
    /// `nice`, `time`, `command`, `exec`) removed.
    pub fn effective(&self) -> &[Word] {
        let mut words = &self.words[..];
        loop {
            match words.first() {
                Some(w) if is_assignment(&w.text) => words = &words[1..],
                Some(w)
                    if !w.dynamic
                        && [
                            "then", "do", "else", "elif", "if", "while", "until", "!", "{", "}",
                        ]
                        .contains(&w.text.as_str()) =>
                {
                    words = &words[1..]
                }
                Some(w)
                    if ["sudo", "env", "nice", "time", "command", "exec", "xargs"]
                        .contains(&w.text.as_str()) =>
                {
                    words = &words[1..];
                    while words.first().is_some_and(|w| w.text.starts_with('-')) {
                        words = &words[1..];
                    }
                }
                _ => return words,
            }
        }
    }

    /// The command that runs (`apt-get` of `sudo -E apt-get install`).
    pub fn name(&self) -> Option<&str> {
        self.effective().first().map(|w| w.text.as_str())
    }
}

fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit())
        }
        None => false,
    }
}

/// Splits a script into simple commands.
#[allow(unused_assignments)] // the macros reset state that the last use does not read
pub fn commands(script: &str) -> Vec<SimpleCommand> {
    let mut out = Vec::new();
    let mut words: Vec<Word> = Vec::new();
    let mut current = String::new();
    let mut dynamic = false;
    let mut in_word = false;
    let mut depth: usize = 0;
    let mut subshell_of_current = false;
    let chars: Vec<char> = script.chars().collect();
    let mut i = 0;

    macro_rules! end_word {
        () => {
            if in_word {
                if words.is_empty() {
                    subshell_of_current = depth > 0;
                }
                words.push(Word {
                    text: std::mem::take(&mut current),
                    dynamic,
                });
                dynamic = false;
                in_word = false;
            }
        };
    }
    macro_rules! end_command {
        () => {
            end_word!();
            if !words.is_empty() {
                out.push(SimpleCommand {
                    words: std::mem::take(&mut words),
                    in_subshell: subshell_of_current,
                    pipes_into_next: false,
                });
            }
        };
    }

    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                if chars.get(i + 1) == Some(&'\n') {
                    i += 2;
                    continue;
                }
                if let Some(next) = chars.get(i + 1) {
                    current.push(*next);
                    in_word = true;
                }
                i += 2;
            }
            '\'' => {
                in_word = true;
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    current.push(chars[i]);
                    i += 1;
                }
                i += 1;
            }
            '"' => {
                in_word = true;
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        current.push(chars[i + 1]);
                        i += 2;
                        continue;
                    }
                    if chars[i] == '$' {
                        dynamic = true;
                    }
                    current.push(chars[i]);
                    i += 1;
                }
                i += 1;
            }
            '$' => {
                in_word = true;
                dynamic = true;
                current.push('$');
                i += 1;
                // Keep $(...) and ${...} inside the word, nested parentheses included.
                if let Some(&open @ ('(' | '{')) = chars.get(i) {
                    let close = if open == '(' { ')' } else { '}' };
                    let mut level = 0;
                    while i < chars.len() {
                        let ch = chars[i];
                        current.push(ch);
                        i += 1;
                        if ch == open {
                            level += 1;
                        } else if ch == close {
                            level -= 1;
                            if level == 0 {
                                break;
                            }
                        }
                    }
                }
            }
            '`' => {
                in_word = true;
                dynamic = true;
                i += 1;
                while i < chars.len() && chars[i] != '`' {
                    current.push(chars[i]);
                    i += 1;
                }
                i += 1;
            }
            '#' if !in_word => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            ' ' | '\t' => {
                end_word!();
                i += 1;
            }
            '|' => {
                // `||` is "or"; `|` and `|&` are pipes.
                let or = chars.get(i + 1) == Some(&'|');
                end_command!();
                if !or && let Some(last) = out.last_mut() {
                    last.pipes_into_next = true;
                }
                i += if or { 2 } else { 1 };
            }
            '\n' | ';' | '&' => {
                end_command!();
                i += 1;
            }
            '(' if !in_word => {
                end_command!();
                depth += 1;
                i += 1;
            }
            ')' if !in_word || depth > 0 => {
                end_command!();
                depth = depth.saturating_sub(1);
                i += 1;
            }
            '<' | '>' => {
                // A redirection: skip the operator and its target word (and an fd number
                // written right before it, as in `2>/dev/null`).
                if in_word && !current.is_empty() && current.chars().all(|c| c.is_ascii_digit()) {
                    current.clear();
                    in_word = false;
                }
                end_word!();
                while i < chars.len() && matches!(chars[i], '<' | '>' | '&' | '-') {
                    i += 1;
                }
                while i < chars.len() && chars[i] == ' ' {
                    i += 1;
                }
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && !matches!(chars[i], ';' | '&' | '|' | ')')
                {
                    i += 1;
                }
            }
            _ => {
                in_word = true;
                current.push(c);
                i += 1;
            }
        }
    }
    end_command!();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(script: &str) -> Vec<String> {
        commands(script)
            .iter()
            .map(|c| {
                c.effective()
                    .iter()
                    .map(|w| w.text.clone())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .filter(|c| !c.is_empty())
            .collect()
    }

    #[test]
    fn splits_on_operators_and_strips_assignments() {
        assert_eq!(
            names(
                "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y 'curl' ; rm -rf /var/lib/apt/lists/*"
            ),
            vec![
                "apt-get update",
                "apt-get install -y curl",
                "rm -rf /var/lib/apt/lists/*"
            ]
        );
    }

    #[test]
    fn subshells_and_variables_are_marked() {
        let cmds = commands("(cd /src && make) && pip install $PKGS \"${EXTRA}\" 2>/dev/null");
        assert!(cmds[0].in_subshell);
        assert_eq!(cmds[0].name(), Some("cd"));
        assert!(!cmds[2].in_subshell);
        let pip = &cmds[2];
        assert!(pip.words[2].dynamic && pip.words[3].dynamic);
        assert_eq!(pip.words.len(), 4, "the redirection is not a word: {pip:?}");
    }

    #[test]
    fn commands_after_shell_keywords_are_found() {
        assert_eq!(
            names("if [ -n \"$X\" ]; then apt-get install -y curl; fi; { cd /opt && make; }"),
            vec![
                "[ -n $X ]",
                "apt-get install -y curl",
                "fi",
                "cd /opt",
                "make"
            ]
        );
    }

    #[test]
    fn pipes_are_told_from_or() {
        let cmds = commands("curl -fsSL x | tar -xz || echo failed; a |& b");
        let piped: Vec<bool> = cmds.iter().map(|c| c.pipes_into_next).collect();
        assert_eq!(piped, vec![true, false, false, true, false]);
    }

    #[test]
    fn command_substitution_stays_in_one_word() {
        let cmds = commands("echo $(dirname $(which python3)) | tee /tmp/x");
        assert_eq!(cmds.len(), 2);
        assert_eq!(cmds[0].words.len(), 2);
    }
}
