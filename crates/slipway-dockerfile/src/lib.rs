//! A Dockerfile parser that keeps positions: line continuations, comments inside continued
//! instructions, parser directives (`escape`), heredocs, flags, JSON and shell forms; and
//! ([`shell`]) just enough of POSIX shell to find the simple commands of a RUN script.
//!
//! The lint rules read Dockerfiles through it, and so does the base pipeline (which FROM
//! images to pull through a mirror), without linking the rules.

#![warn(missing_docs)]

pub mod shell;

/// One instruction with the place it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// Upper-cased keyword, e.g. `RUN`.
    pub keyword: String,
    /// 1-based first line of the instruction.
    pub line: usize,
    /// 1-based last line (including continuations and heredoc bodies).
    pub end_line: usize,
    /// 1-based column of the keyword.
    pub column: usize,
    /// `--name=value` flags before the arguments (`--from`, `--platform`, `--mount`...).
    pub flags: Vec<(String, String)>,
    /// The arguments after keyword and flags, continuations joined; heredoc bodies follow on
    /// their own lines.
    pub args: String,
    /// Heredoc bodies, in order.
    pub heredocs: Vec<Heredoc>,
    /// The arguments in JSON (exec) form, when written that way.
    pub json: Option<Vec<String>>,
    /// Rule IDs silenced by `# slipway-ignore ID: reason` comments directly above.
    pub suppressed: Vec<String>,
    /// For `ONBUILD`: the instruction it registers, located where it is written.
    pub trigger: Option<Box<Instruction>>,
}

/// A heredoc of an instruction (`RUN <<EOF ... EOF`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The word that ends it (`EOF`).
    pub delimiter: String,
    /// Its lines, joined.
    pub body: String,
}

impl Instruction {
    /// The value of flag `--name` (matched without regard to case), when given.
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The shell script a RUN executes: the command line, then any heredoc bodies.
    pub fn script(&self) -> String {
        if let Some(argv) = &self.json {
            return argv.join(" ");
        }
        let command_line = self.args.lines().next().unwrap_or_default();
        // A heredoc is the script when it feeds the shell (`RUN <<EOF`, `RUN bash <<EOF`);
        // otherwise (`RUN cat > /entrypoint.sh <<EOF`) it is a file's content.
        let before_heredoc = command_line.split("<<").next().unwrap_or_default().trim();
        let feeds_shell = before_heredoc.is_empty()
            || before_heredoc
                .split_whitespace()
                .next()
                .is_some_and(|w| matches!(w.rsplit('/').next(), Some("sh" | "bash" | "dash")))
                && before_heredoc
                    .split_whitespace()
                    .skip(1)
                    .all(|w| w.starts_with('-'));
        if self.heredocs.is_empty() || feeds_shell {
            self.args.clone()
        } else {
            command_line.to_owned()
        }
    }
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// Its instructions, in order.
    pub instructions: Vec<Instruction>,
    /// The escape character (a backslash, or what the `escape` directive set).
    pub escape: char,
}

/// Why a text is not a Dockerfile, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub help: String,
}

const KEYWORDS: &[&str] = &[
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "MAINTAINER",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
];

const FLAGGED: &[&str] = &["FROM", "RUN", "COPY", "ADD", "HEALTHCHECK"];
const HEREDOC_CAPABLE: &[&str] = &["RUN", "COPY", "ADD"];

/// Parses a Dockerfile (a leading byte-order mark is skipped). The error names the line and
/// column of the first problem.
pub fn parse(source: &str) -> Result<Dockerfile, ParseError> {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let lines: Vec<&str> = source.lines().collect();
    let escape = directive_escape(&lines)?;
    let mut instructions = Vec::new();
    let mut pending_suppressions: Vec<String> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let raw = lines[i];
        let trimmed = raw.trim_start();
        if trimmed.is_empty() {
            i += 1;
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            pending_suppressions.extend(suppressions_in(comment));
            i += 1;
            continue;
        }
        let start_line = i + 1;
        let column = raw.len() - trimmed.len() + 1;
        // Join continuation lines; comment lines inside a continuation are dropped, as the
        // builder does.
        let mut logical = String::new();
        let mut line = trimmed.to_owned();
        loop {
            let content = line.trim_end();
            if let Some(stripped) = content.strip_suffix(escape) {
                logical.push_str(stripped);
                i += 1;
                loop {
                    match lines.get(i) {
                        None => {
                            line = String::new();
                            break;
                        }
                        Some(next) if next.trim_start().starts_with('#') => i += 1,
                        Some(next) if next.trim().is_empty() => i += 1,
                        Some(next) => {
                            line = (*next).to_owned();
                            break;
                        }
                    }
                }
                if i >= lines.len() && line.is_empty() {
                    break;
                }
            } else {
                logical.push_str(content);
                i += 1;
                break;
            }
        }
        let (word, rest) = split_word(&logical);
        let keyword = word.to_ascii_uppercase();
        if !KEYWORDS.contains(&keyword.as_str()) {
            return Err(ParseError {
                line: start_line,
                column,
                message: format!("unknown instruction `{word}`"),
                help: suggest_keyword(&keyword),
            });
        }
        let (flags, args) = if FLAGGED.contains(&keyword.as_str()) {
            take_flags(rest)
        } else {
            (Vec::new(), rest.trim().to_owned())
        };
        let mut heredocs = Vec::new();
        let mut full_args = args.clone();
        if HEREDOC_CAPABLE.contains(&keyword.as_str()) {
            for (delimiter, strip_tabs) in heredoc_markers(&args) {
                let mut body = String::new();
                let mut closed = false;
                while i < lines.len() {
                    let body_line = lines[i];
                    i += 1;
                    let candidate = if strip_tabs {
                        body_line.trim_start_matches('\t')
                    } else {
                        body_line
                    };
                    if candidate == delimiter {
                        closed = true;
                        break;
                    }
                    body.push_str(candidate);
                    body.push('\n');
                }
                if !closed {
                    return Err(ParseError {
                        line: start_line,
                        column,
                        message: format!("heredoc `<<{delimiter}` is never closed"),
                        help: format!("end the heredoc with a line containing only `{delimiter}`"),
                    });
                }
                full_args.push('\n');
                full_args.push_str(&body);
                heredocs.push(Heredoc { delimiter, body });
            }
        }
        if args.is_empty() && heredocs.is_empty() {
            return Err(ParseError {
                line: start_line,
                column,
                message: format!("{keyword} has no arguments"),
                help: format!("write what {keyword} should do, or remove the line"),
            });
        }
        let json = if args.starts_with('[') {
            serde_json::from_str::<Vec<String>>(&args).ok()
        } else {
            None
        };
        // Invalid JSON is run in shell form by the builder (DF018 reports it); an array that
        // is never closed is a mistake it would run as a broken shell command.
        if matches!(keyword.as_str(), "CMD" | "ENTRYPOINT" | "SHELL")
            && args.starts_with("[\"")
            && !args.trim_end().ends_with(']')
        {
            return Err(ParseError {
                line: start_line,
                column,
                message: format!("unterminated JSON array in {keyword}"),
                help: "close the array with `]`".into(),
            });
        }
        let suppressed = std::mem::take(&mut pending_suppressions);
        let trigger = if keyword == "ONBUILD" {
            // The trigger starts after the keyword and its spacing on the first line.
            let first_line = trimmed.trim_end();
            let offset = first_line.len() - split_word(first_line).1.trim_start().len();
            let trigger = parse_trigger(
                &args,
                start_line,
                column + offset,
                i.max(start_line),
                &suppressed,
            )?;
            Some(Box::new(trigger))
        } else {
            None
        };
        instructions.push(Instruction {
            keyword,
            line: start_line,
            end_line: i.max(start_line),
            column,
            flags,
            args: full_args,
            heredocs,
            json,
            suppressed,
            trigger,
        });
    }
    match instructions.iter().find(|i| i.keyword != "ARG") {
        None => Err(ParseError {
            line: instructions.first().map_or(1, |i| i.line),
            column: 1,
            message: "the Dockerfile has no FROM instruction".into(),
            help: "start the build with `FROM <image>:<tag>`".into(),
        }),
        Some(first) if first.keyword != "FROM" => Err(ParseError {
            line: first.line,
            column: first.column,
            message: format!("{} before the first FROM", first.keyword),
            help: "only ARG may come before the first FROM".into(),
        }),
        Some(_) => Ok(Dockerfile {
            instructions,
            escape,
        }),
    }
}

/// The instruction an `ONBUILD` registers, checked as the builder checks it.
fn parse_trigger(
    text: &str,
    line: usize,
    column: usize,
    end_line: usize,
    suppressed: &[String],
) -> Result<Instruction, ParseError> {
    let (word, rest) = split_word(text);
    let keyword = word.to_ascii_uppercase();
    let error = |message: String, help: String| ParseError {
        line,
        column,
        message,
        help,
    };
    if !KEYWORDS.contains(&keyword.as_str()) {
        return Err(error(
            format!("unknown instruction `{word}` after ONBUILD"),
            suggest_keyword(&keyword),
        ));
    }
    if matches!(keyword.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
        return Err(error(
            format!("{keyword} is not allowed as an ONBUILD trigger"),
            "ONBUILD registers one instruction other than ONBUILD, FROM and MAINTAINER".into(),
        ));
    }
    let (flags, args) = if FLAGGED.contains(&keyword.as_str()) {
        take_flags(rest)
    } else {
        (Vec::new(), rest.trim().to_owned())
    };
    if args.is_empty() {
        return Err(error(
            format!("ONBUILD {keyword} has no arguments"),
            format!("write what {keyword} should do, or remove the line"),
        ));
    }
    let json = if args.starts_with('[') {
        serde_json::from_str::<Vec<String>>(&args).ok()
    } else {
        None
    };
    Ok(Instruction {
        keyword,
        line,
        end_line,
        column,
        flags,
        args,
        heredocs: Vec::new(),
        json,
        suppressed: suppressed.to_vec(),
        trigger: None,
    })
}

fn directive_escape(lines: &[&str]) -> Result<char, ParseError> {
    for (index, line) in lines.iter().enumerate() {
        let Some(rest) = line.trim_start().strip_prefix('#') else {
            break;
        };
        let Some((name, value)) = rest.split_once('=') else {
            break;
        };
        let name = name.trim().to_ascii_lowercase();
        if name.contains(char::is_whitespace) {
            break;
        }
        if name == "escape" {
            return match value.trim() {
                "\\" => Ok('\\'),
                "`" => Ok('`'),
                other => Err(ParseError {
                    line: index + 1,
                    column: 1,
                    message: format!("invalid escape directive `{other}`"),
                    help: "the escape character is `\\` or a backtick".into(),
                }),
            };
        }
    }
    Ok('\\')
}

/// `slipway-ignore DF013, DF014: reason` → ["DF013", "DF014"].
fn suppressions_in(comment: &str) -> Vec<String> {
    let Some(rest) = comment.trim().strip_prefix("slipway-ignore") else {
        return Vec::new();
    };
    let ids = rest.split(':').next().unwrap_or_default();
    ids.split([',', ' '])
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_ascii_uppercase)
        .collect()
}

fn split_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    match text.find(char::is_whitespace) {
        Some(end) => (&text[..end], &text[end..]),
        None => (text, ""),
    }
}

fn take_flags(rest: &str) -> (Vec<(String, String)>, String) {
    let mut flags = Vec::new();
    let mut rest = rest.trim_start();
    while let Some(after) = rest.strip_prefix("--") {
        let end = after.find(char::is_whitespace).unwrap_or(after.len());
        let flag = &after[..end];
        let (name, value) = flag.split_once('=').unwrap_or((flag, ""));
        flags.push((name.to_owned(), value.to_owned()));
        rest = after[end..].trim_start();
    }
    (flags, rest.trim_end().to_owned())
}

/// Heredoc delimiters on an instruction line: `<<EOF`, `<<-EOF`, `<<"EOF"`, `<<'EOF'`.
fn heredoc_markers(args: &str) -> Vec<(String, bool)> {
    let mut markers = Vec::new();
    let mut rest = args;
    while let Some(at) = rest.find("<<") {
        let mut after = &rest[at + 2..];
        let strip_tabs = after.starts_with('-');
        if strip_tabs {
            after = &after[1..];
        }
        let quoted = after.starts_with(['"', '\'']);
        let word: String = after
            .trim_start_matches(['"', '\''])
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        // `<<<` is a here-string and `1<<2` arithmetic, not heredocs.
        let here_string = after.starts_with('<') || rest[..at].ends_with('<');
        let looks_like_delimiter = !word.is_empty()
            && !here_string
            && (quoted
                || word
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_'));
        if looks_like_delimiter {
            markers.push((word.clone(), strip_tabs));
        }
        rest = &rest[at + 2..];
    }
    markers
}

fn suggest_keyword(keyword: &str) -> String {
    match slipway_core::suggest::closest(keyword, KEYWORDS.iter().copied()) {
        Some(k) => format!("did you mean `{k}`?"),
        None => "Dockerfile instructions are FROM, RUN, COPY, ADD, CMD, ENTRYPOINT, ENV, ARG, USER, WORKDIR, EXPOSE, LABEL, HEALTHCHECK, VOLUME, SHELL, STOPSIGNAL, ONBUILD".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuations_join_and_keep_the_first_line() {
        let df = parse(
            "FROM debian:12\nRUN apt-get update \\\n  # a comment\n  && apt-get install -y curl\n",
        )
        .unwrap();
        let run = &df.instructions[1];
        assert_eq!(run.line, 2);
        assert_eq!(run.end_line, 4);
        assert!(run.args.contains("apt-get update") && run.args.contains("install -y curl"));
    }

    #[test]
    fn heredocs_become_part_of_the_script() {
        let df = parse(
            "FROM debian:12\nRUN <<EOF\napt-get update\napt-get install -y curl\nEOF\nUSER app\n",
        )
        .unwrap();
        assert_eq!(df.instructions[1].heredocs.len(), 1);
        assert!(
            df.instructions[1]
                .script()
                .contains("apt-get install -y curl")
        );
        assert_eq!(df.instructions[2].keyword, "USER");
        assert_eq!(df.instructions[2].line, 6);
    }

    #[test]
    fn flags_json_and_suppressions() {
        let df = parse("FROM --platform=$BUILDPLATFORM node:20 AS build\n# slipway-ignore DF018: wrapper script\nCMD [\"node\", \"server.js\"]\n").unwrap();
        assert_eq!(df.instructions[0].flag("platform"), Some("$BUILDPLATFORM"));
        assert_eq!(df.instructions[0].args, "node:20 AS build");
        assert_eq!(
            df.instructions[1].json.as_deref(),
            Some(&["node".to_owned(), "server.js".to_owned()][..])
        );
        assert_eq!(df.instructions[1].suppressed, vec!["DF018"]);
    }

    #[test]
    fn escape_directive_changes_the_continuation_character() {
        let df = parse(
            "# escape=`\nFROM mcr.microsoft.com/windows/servercore:ltsc2022\nRUN dir `\n  c:\\\n",
        )
        .unwrap();
        assert_eq!(df.escape, '`');
        assert_eq!(df.instructions.len(), 2);
    }

    #[test]
    fn heredocs_that_write_files_are_not_script() {
        let df = parse("FROM debian:12\nRUN cat > /entrypoint.sh <<eof\ncd /app\nexec app\neof\n")
            .unwrap();
        assert_eq!(df.instructions[1].script(), "cat > /entrypoint.sh <<eof");
        let df = parse("FROM debian:12\nRUN bash -e <<EOF\ncd /app\nEOF\n").unwrap();
        assert!(df.instructions[1].script().contains("cd /app"));
    }

    #[test]
    fn a_bom_and_shell_tests_in_cmd_are_fine_but_a_missing_from_is_not() {
        assert!(parse("\u{feff}FROM debian:12\nCMD [ -f /x ] && exec php-fpm\n").is_ok());
        assert_eq!(
            parse("# just a comment\n").unwrap_err().message,
            "the Dockerfile has no FROM instruction"
        );
        assert_eq!(parse("RUN echo\nFROM debian:12\n").unwrap_err().line, 1);
    }

    #[test]
    fn onbuild_triggers_are_parsed_where_they_are_written() {
        let df = parse("FROM debian:12\n  ONBUILD   RUN --mount=type=cache,target=/x apt-get install -y curl\n").unwrap();
        let trigger = df.instructions[1].trigger.as_deref().unwrap();
        assert_eq!(trigger.keyword, "RUN");
        assert_eq!((trigger.line, trigger.column), (2, 13));
        assert_eq!(trigger.flag("mount"), Some("type=cache,target=/x"));
        assert_eq!(trigger.args, "apt-get install -y curl");
        let error = parse("FROM debian:12\nONBUILD ONBUILD RUN true\n").unwrap_err();
        assert_eq!((error.line, error.column), (2, 9));
        let error = parse("FROM debian:12\nONBUILD RNU true\n").unwrap_err();
        assert!(error.help.contains("RUN"), "{}", error.help);
    }

    #[test]
    fn unknown_instructions_are_located_errors() {
        let error = parse("FROM debian:12\nRUNN echo hi\n").unwrap_err();
        assert_eq!((error.line, error.column), (2, 1));
        assert!(error.help.contains("RUN"), "{}", error.help);
    }
}
