//! The DF rules over a parsed Dockerfile.

use std::collections::HashMap;

use slipway_core::manifest::looks_secret;

use crate::dockerfile::{Dockerfile, Instruction};
use crate::image::{self, ImageRef};
use crate::shell::{self, Word};

/// What a Dockerfile is for, which decides the image-policy rules that apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// An ops-owned base image: FROM an official image.
    Base,
    /// An app image built through the engine: FROM the project's base.
    App,
    /// Any other Dockerfile: only the rules that apply to every Dockerfile.
    Other,
}

/// What the Dockerfile rules know of the project: its bases and which registries are official.
#[derive(Debug, Clone, Default)]
pub struct DockerfileContext {
    /// Repositories of the project's base images, e.g. `shop/base-python`.
    pub base_repositories: Vec<String>,
    /// Registry prefixes whose images count as official.
    pub official_registries: Vec<String>,
}

/// A finding before it is given a file and a severity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFinding {
    /// The rule's ID, e.g. `DF001`.
    pub rule: &'static str,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong here.
    pub message: String,
    /// Rule IDs silenced for this line by a `# slipway-ignore ID: reason` comment above it.
    pub suppressed: Vec<String>,
}

struct Stage<'a> {
    from: &'a Instruction,
    name: Option<String>,
    image: String,
    /// Index of the stage this one builds on, when its FROM names an earlier stage.
    parent: Option<usize>,
    body: Vec<&'a Instruction>,
}

/// The shell RUN instructions in shell form go through, as `SHELL` leaves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ShellState {
    /// A POSIX-like shell (sh, bash, ash, dash...), whose scripts the RUN rules read.
    posix: bool,
    /// The shell is started with `-o pipefail`.
    pipefail: bool,
    /// A Windows stage: a Windows base image, or `SHELL` powershell/cmd.
    windows: bool,
}

impl ShellState {
    const LINUX_DEFAULT: ShellState = ShellState {
        posix: true,
        pipefail: false,
        windows: false,
    };
    const WINDOWS_DEFAULT: ShellState = ShellState {
        posix: false,
        pipefail: false,
        windows: true,
    };

    /// The state after `SHELL [...]`.
    fn after_shell(self, argv: &[String]) -> ShellState {
        let program = argv.first().map(|p| program_name(p)).unwrap_or_default();
        ShellState {
            posix: is_posix_shell(&program),
            pipefail: sets_pipefail(argv),
            windows: self.windows || matches!(program.as_str(), "powershell" | "cmd"),
        }
    }
}

/// `C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe` → `powershell`.
fn program_name(path: &str) -> String {
    let base = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let lower = base.to_ascii_lowercase();
    lower.strip_suffix(".exe").unwrap_or(&lower).to_owned()
}

fn is_posix_shell(program: &str) -> bool {
    matches!(
        program,
        "sh" | "bash" | "ash" | "dash" | "zsh" | "ksh" | "mksh" | "busybox"
    )
}

/// Shell options that switch pipefail on: `-o pipefail`, bundled as in `-euxo pipefail`, or
/// `set -o pipefail`'s words.
fn sets_pipefail<S: AsRef<str>>(words: &[S]) -> bool {
    let mut on = false;
    for pair in words.windows(2) {
        let (flag, value) = (pair[0].as_ref(), pair[1].as_ref());
        if value == "pipefail" && flag.len() > 1 && flag.ends_with('o') {
            if flag.starts_with('-') {
                on = true;
            } else if flag.starts_with('+') {
                on = false;
            }
        }
    }
    on
}

/// Windows base images: `mcr.microsoft.com/windows/...`, nanoserver and servercore variants
/// (`python:3.12-windowsservercore-ltsc2022`, `.../dotnet/runtime:8.0-nanoserver-ltsc2022`).
fn is_windows_image(image: &str) -> bool {
    let lower = image.to_ascii_lowercase();
    lower.contains("mcr.microsoft.com/windows")
        || lower.contains("nanoserver")
        || lower.contains("windowsservercore")
        || lower.contains("servercore:")
}

/// The findings of the Dockerfile rules for a Dockerfile of the given role.
pub fn check(df: &Dockerfile, role: Role, ctx: &DockerfileContext) -> Vec<RawFinding> {
    check_with_files(df, role, ctx, &|_| None)
}

/// Like [`check`], with `read_context_file` giving the text of a file of the build context
/// (a path relative to it, as COPY names it), or None when it is not there or not readable.
/// It is how an entrypoint script is read to see whether it drops root.
pub fn check_with_files(
    df: &Dockerfile,
    role: Role,
    ctx: &DockerfileContext,
    read_context_file: &dyn Fn(&str) -> Option<String>,
) -> Vec<RawFinding> {
    let mut out = Vec::new();
    let mut report = |rule: &'static str, ins: &Instruction, message: String| {
        out.push(RawFinding {
            rule,
            line: ins.line,
            column: ins.column,
            message,
            suppressed: ins.suppressed.clone(),
        });
    };

    // Global ARGs (before the first FROM) with defaults resolve variables in FROM lines.
    let mut global_args: HashMap<String, String> = HashMap::new();
    let mut stages: Vec<Stage> = Vec::new();
    for ins in &df.instructions {
        if ins.keyword == "FROM" {
            let mut words = ins.args.split_whitespace();
            let image = words.next().unwrap_or_default().to_owned();
            let name = match (words.next(), words.next()) {
                (Some(as_kw), Some(name)) if as_kw.eq_ignore_ascii_case("as") => {
                    Some(name.to_owned())
                }
                _ => None,
            };
            let parent = stages.iter().position(|s| {
                s.name
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(&image))
            });
            stages.push(Stage {
                from: ins,
                name,
                image,
                parent,
                body: Vec::new(),
            });
        } else if let Some(stage) = stages.last_mut() {
            stage.body.push(ins);
        } else if ins.keyword == "ARG" {
            for (key, value) in key_values(&ins.args, true) {
                if let Some(value) = value {
                    global_args.insert(key, value);
                }
            }
        }
    }

    // Stage names: duplicates.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for stage in &stages {
        if let Some(name) = &stage.name {
            let key = name.to_ascii_lowercase();
            if let Some(first) = seen.get(&key) {
                report(
                    "DF020",
                    stage.from,
                    format!("stage name `{name}` is already used by the stage on line {first}"),
                );
            } else {
                seen.insert(key, stage.from.line);
            }
        }
    }

    let mut ancestors_of_final = vec![false; stages.len()];
    let mut cursor = stages.len().checked_sub(1);
    while let Some(index) = cursor {
        ancestors_of_final[index] = true;
        cursor = stages[index].parent;
    }

    let mut shells: Vec<ShellState> = Vec::new();
    for (index, stage) in stages.iter().enumerate() {
        check_from(
            stage,
            &global_args,
            role,
            ctx,
            ancestors_of_final[index],
            &mut report,
        );
        let inherited = match stage.parent {
            Some(parent) => shells[parent],
            None if is_windows_image(&stage.image)
                || substitute(&stage.image, &global_args)
                    .is_some_and(|image| is_windows_image(&image)) =>
            {
                ShellState::WINDOWS_DEFAULT
            }
            None => ShellState::LINUX_DEFAULT,
        };
        let end = check_stage_body(
            stage,
            &stages[..index],
            inherited,
            &global_args,
            &mut report,
        );
        shells.push(end);
    }

    if let Some(last) = stages.last() {
        // The user and health check are inherited along FROM <stage>.
        let chain: Vec<&Stage> = {
            let mut chain = vec![last];
            let mut parent = last.parent;
            while let Some(p) = parent {
                chain.push(&stages[p]);
                parent = stages[p].parent;
            }
            chain
        };
        let last_user = chain
            .iter()
            .find_map(|s| s.body.iter().rev().find(|i| i.keyword == "USER"));
        let root_image = chain.last().map(|s| s.image.as_str()).unwrap_or_default();
        let builds_on_project_base = is_project_base(root_image, ctx);
        let windows = shells.last().is_some_and(|s| s.windows);
        let (place, message) = match last_user {
            Some(user) if is_root_user(&user.args) => (
                Some(*user),
                format!("the final stage runs as `{}`", user.args.trim()),
            ),
            Some(_) => (None, String::new()),
            None if builds_on_project_base => (None, String::new()),
            None => (
                Some(last.from),
                "the final stage sets no USER, so it runs as root".into(),
            ),
        };
        // Windows containers have no root; their users are another matter.
        if let Some(place) = place
            && !windows
        {
            let root_image = substitute(root_image, &global_args)
                .and_then(|image| image::parse(&image))
                .filter(|image| image::is_official(image, &ctx.official_registries));
            match privilege_drop(&chain, root_image.as_ref(), read_context_file) {
                Some(how) => report("DF025", place, format!("{message}; {how}")),
                None => report("DF010", place, message),
            }
        }
        let has_healthcheck = chain
            .iter()
            .any(|s| s.body.iter().any(|i| i.keyword == "HEALTHCHECK"));
        if !has_healthcheck && role != Role::Base && !builds_on_project_base {
            report(
                "DF021",
                last.from,
                "the final stage has no HEALTHCHECK".into(),
            );
        }
    }
    out
}

/// How the final stage's ENTRYPOINT/CMD, or the entrypoint script it names, steps down from
/// root (`gosu`, `su-exec`...), if it does. `chain` is the final stage and the stages it
/// builds on, nearest first.
/// Official images whose entrypoint script starts as root and steps down to the service's
/// user (gosu, su-exec or setpriv) when it runs the server, with the server commands it does
/// that for (a CMD of options only, `-c ...`, also runs the server).
const OFFICIAL_IMAGES_THAT_DROP_ROOT: &[(&str, &[&str])] = &[
    ("postgres", &["postgres"]),
    ("mysql", &["mysqld"]),
    ("mariadb", &["mariadbd", "mysqld"]),
    ("percona", &["mysqld"]),
    ("mongo", &["mongod", "mongos"]),
    ("redis", &["redis-server", "redis-sentinel"]),
    ("rabbitmq", &["rabbitmq-server"]),
    ("cassandra", &["cassandra"]),
    ("couchdb", &["couchdb", "/opt/couchdb/bin/couchdb"]),
];

/// `official_root` is the official image the final stage builds on, if it does.
fn privilege_drop(
    chain: &[&Stage],
    official_root: Option<&ImageRef>,
    read_context_file: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    let last_of = |keyword: &str| {
        chain
            .iter()
            .find_map(|s| s.body.iter().rev().find(|i| i.keyword == keyword))
    };
    let mut words: Vec<String> = Vec::new();
    for ins in [last_of("ENTRYPOINT"), last_of("CMD")]
        .into_iter()
        .flatten()
    {
        match &ins.json {
            Some(argv) => words.extend(argv.iter().cloned()),
            None => words.extend(
                shell::commands(&ins.args)
                    .into_iter()
                    .flat_map(|c| c.words)
                    .map(|w| w.text),
            ),
        }
    }
    // Wrappers come first (`tini --`, `dumb-init`), so any word may be the program.
    let as_words: Vec<Word> = words
        .iter()
        .map(|w| Word {
            text: w.clone(),
            dynamic: false,
        })
        .collect();
    if let Some(how) = drop_in_words(&as_words, &as_words) {
        return Some(format!(
            "its entrypoint runs `{how}`, which drops to another user"
        ));
    }
    // Scripts the entrypoint names, found by the COPY/ADD that puts them into the image.
    let sources: Vec<String> = chain
        .iter()
        .flat_map(|s| s.body.iter())
        .filter(|i| matches!(i.keyword.as_str(), "COPY" | "ADD") && i.flag("from").is_none())
        .flat_map(|i| add_sources(&i.args))
        .filter(|source| !is_remote(source))
        .collect();
    for word in &words {
        let name = word.rsplit('/').next().unwrap_or(word);
        if name.is_empty() || word.starts_with('-') {
            continue;
        }
        for source in &sources {
            let source_name = source
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or(source);
            if source_name != name {
                continue;
            }
            if let Some(text) = read_context_file(source)
                && let Some(how) = drop_in_script(&text)
            {
                return Some(format!(
                    "its entrypoint script {source} runs `{how}`, which drops to another user"
                ));
            }
        }
    }
    // No ENTRYPOINT of its own: the official image's entrypoint runs, and drops root when it
    // starts the server.
    let image = official_root?;
    let (name, servers) = OFFICIAL_IMAGES_THAT_DROP_ROOT
        .iter()
        .find(|(name, _)| *name == image.name())?;
    if last_of("ENTRYPOINT").is_some() {
        return None;
    }
    let first_cmd_word = last_of("CMD").map(|cmd| match &cmd.json {
        Some(argv) => argv.first().cloned().unwrap_or_default(),
        None => cmd
            .args
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned(),
    });
    let runs_server =
        first_cmd_word.is_none_or(|word| word.starts_with('-') || servers.contains(&word.as_str()));
    runs_server.then(|| {
        format!("the entrypoint of the official `{name}` image drops to the server's user")
    })
}

/// The first command in a shell script that runs its program as another user: `gosu`,
/// `su-exec`, `setpriv --reuid`, `chroot --userspec`, `runuser`, `s6-setuidgid`,
/// `setuidgid`, `chpst -u`; also as the words of `set -- gosu ...`.
fn drop_in_script(script: &str) -> Option<String> {
    for command in shell::commands(script) {
        let words = command.effective();
        let candidates: &[Word] = match words.first().map(|w| w.text.as_str()) {
            Some("set") => words,
            _ => words.get(..1).unwrap_or_default(),
        };
        if let Some(program) = drop_in_words(candidates, words) {
            return Some(program);
        }
    }
    None
}

/// The first of `candidates` (a prefix of `words`) that is a privilege-dropping program
/// given the arguments after it.
fn drop_in_words(candidates: &[Word], words: &[Word]) -> Option<String> {
    for (index, word) in candidates.iter().enumerate() {
        let program = program_name(&word.text);
        let args = &words[index + 1..];
        let has = |prefix: &str| args.iter().any(|a| a.text.starts_with(prefix));
        let drops = match program.as_str() {
            "gosu" | "su-exec" | "runuser" | "s6-setuidgid" | "setuidgid" => true,
            "setpriv" => has("--reuid") || has("--ruid") || has("--euid"),
            "chroot" => has("--userspec"),
            "chpst" => has("-u"),
            _ => false,
        };
        if drops {
            return Some(program);
        }
    }
    None
}

fn is_project_base(image: &str, ctx: &DockerfileContext) -> bool {
    if is_slipway_base_var(image) {
        return true;
    }
    image::parse(image).is_some_and(|r| {
        ctx.base_repositories
            .iter()
            .any(|base| r.repository() == base || r.repository().ends_with(&format!("/{base}")))
    })
}

/// `$SLIPWAY_BASE`, `${SLIPWAY_BASE}` or `${SLIPWAY_BASE:-fallback}`: slipway passes the pinned
/// base as that build argument.
fn is_slipway_base_var(image: &str) -> bool {
    image == "$SLIPWAY_BASE"
        || image.strip_prefix("${SLIPWAY_BASE").is_some_and(|rest| {
            rest == "}" || (rest.starts_with(":-") || rest.starts_with('-')) && rest.ends_with('}')
        })
}

/// Like `substitute`, with every unknown variable replaced by a placeholder word.
fn substitute_unknown(text: &str, vars: &HashMap<String, String>) -> String {
    let mut known = vars.clone();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        let after = rest[at + 1..].trim_start_matches('{');
        let len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        known
            .entry(after[..len].to_owned())
            .or_insert_with(|| "unknown".to_owned());
        rest = &after[len..];
    }
    substitute(text, &known).unwrap_or_else(|| text.to_owned())
}

fn is_root_user(user: &str) -> bool {
    let name = user.trim().split(':').next().unwrap_or_default();
    name == "root" || name == "0"
}

/// Replaces `$VAR`, `${VAR}` and `${VAR:-default}` with known values; None when a variable
/// stays unresolved.
fn substitute(text: &str, vars: &HashMap<String, String>) -> Option<String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, default, consumed) = if let Some(inner) = after.strip_prefix('{') {
            let close = inner.find('}')?;
            let body = &inner[..close];
            let (name, default) = match body.split_once(":-").or_else(|| body.split_once('-')) {
                Some((n, d)) => (n, Some(d)),
                None => (body, None),
            };
            (name, default, close + 2)
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..len], None, len)
        };
        let value = vars.get(name).map(String::as_str).or(default)?;
        out.push_str(value);
        rest = &after[consumed..];
    }
    out.push_str(rest);
    Some(out)
}

fn check_from(
    stage: &Stage,
    global_args: &HashMap<String, String>,
    role: Role,
    ctx: &DockerfileContext,
    ancestor_of_final: bool,
    report: &mut impl FnMut(&'static str, &Instruction, String),
) {
    let ins = stage.from;
    if let Some(platform) = ins.flag("platform")
        && !platform.contains('$')
    {
        report(
            "DF006",
            ins,
            format!("FROM --platform={platform} fixes the platform of this stage"),
        );
    }
    if stage.parent.is_some() || stage.image.eq_ignore_ascii_case("scratch") {
        return;
    }
    let resolved = substitute(&stage.image, global_args);
    let builds_on_base = is_project_base(&stage.image, ctx)
        || resolved.as_deref().is_some_and(|r| is_project_base(r, ctx));
    if role == Role::App && ancestor_of_final && !builds_on_base {
        let bases = if ctx.base_repositories.is_empty() {
            "${SLIPWAY_BASE}".to_owned()
        } else {
            format!("${{SLIPWAY_BASE}} or {}", ctx.base_repositories.join(", "))
        };
        let shown = resolved.clone().unwrap_or_else(|| stage.image.clone());
        report(
            "DF003",
            ins,
            format!("app image builds FROM `{shown}` instead of the project's base ({bases})"),
        );
    }
    if is_slipway_base_var(&stage.image) {
        return;
    }
    let Some(resolved) = resolved else {
        // The tag depends on a build argument without a default: the repository alone still
        // tells whether the image is official or alpine.
        let lenient = substitute_unknown(&stage.image, global_args);
        if let Some(image) = image::parse(&lenient).filter(|i| !i.repository().contains('$')) {
            if role == Role::Base && !image::is_official(&image, &ctx.official_registries) {
                report(
                    "DF001",
                    ins,
                    format!(
                        "base image builds FROM `{}`, which is not an official image",
                        stage.image
                    ),
                );
            }
            if image.name() == "alpine" || stage.image.contains("alpine") {
                report(
                    "DF005",
                    ins,
                    format!("`{}` is an alpine image", stage.image),
                );
            }
        }
        return;
    };
    let Some(image) = image::parse(&resolved) else {
        return;
    };
    if role == Role::Base && !image::is_official(&image, &ctx.official_registries) {
        report(
            "DF001",
            ins,
            format!("base image builds FROM `{resolved}`, which is not an official image"),
        );
    }
    if let Some((rule, message)) = pinning_finding(&resolved, &image) {
        report(rule, ins, message);
    }
    if image.name() == "alpine" || image.tag().is_some_and(|t| t.contains("alpine")) {
        report("DF005", ins, format!("`{resolved}` is an alpine image"));
    }
}

/// Checks a stage's instructions; returns the shell state at its end, which stages built
/// on it inherit.
/// DF002 for an image without a tag or with `latest`, DF004 for one pinned by tag only.
fn pinning_finding(written: &str, image: &ImageRef) -> Option<(&'static str, String)> {
    match (image.tag(), image.digest()) {
        (None, None) => Some((
            "DF002",
            format!("`{written}` has no tag, so it means `latest`"),
        )),
        (Some("latest"), _) => Some(("DF002", format!("`{written}` uses the moving `latest` tag"))),
        (Some(_), None) => Some(("DF004", format!("`{written}` is pinned by tag only"))),
        _ => None,
    }
}

fn check_stage_body(
    stage: &Stage,
    earlier: &[Stage],
    mut shell: ShellState,
    global_args: &HashMap<String, String>,
    report: &mut impl FnMut(&'static str, &Instruction, String),
) -> ShellState {
    let mut cmd_count = 0;
    let mut entrypoint_count = 0;
    for &ins in &stage.body {
        // An ONBUILD trigger runs in the builds FROM this image: its RUN, ENV, ARG and ADD are
        // checked here, where they are written; what depends on the stage it will run in
        // (SHELL, CMD counts, COPY --from stage names) is not.
        let (ins, trigger) = match &ins.trigger {
            Some(trigger) => (trigger.as_ref(), true),
            None => (ins, false),
        };
        match ins.keyword.as_str() {
            "SHELL" | "CMD" | "ENTRYPOINT" | "COPY" if trigger => {}
            "SHELL" => {
                if let Some(argv) = &ins.json {
                    shell = shell.after_shell(argv);
                }
            }
            "CMD" | "ENTRYPOINT" => {
                let count = if ins.keyword == "CMD" {
                    &mut cmd_count
                } else {
                    &mut entrypoint_count
                };
                *count += 1;
                if *count > 1 {
                    report(
                        "DF017",
                        ins,
                        format!(
                            "{} repeated in one stage; only the last one takes effect",
                            ins.keyword
                        ),
                    );
                }
                if ins.json.is_none() {
                    report(
                        "DF018",
                        ins,
                        format!(
                            "{} in shell form runs under /bin/sh -c, which does not pass signals on",
                            ins.keyword
                        ),
                    );
                }
            }
            "ENV" | "ARG" => {
                let leaked: Vec<String> = key_values(&ins.args, ins.keyword == "ARG")
                    .into_iter()
                    .filter_map(|(key, value)| {
                        let value = value.as_deref().unwrap_or_default();
                        let secret_key = looks_secret(&key)
                            && (ins.keyword == "ARG" || !value.is_empty())
                            && !is_secret_file_path(value);
                        if secret_key {
                            Some(key)
                        } else if url_with_password(value) {
                            Some(format!("{key} (a password in a URL)"))
                        } else {
                            None
                        }
                    })
                    .collect();
                if !leaked.is_empty() {
                    let place = if ins.keyword == "ENV" {
                        "image config"
                    } else {
                        "image history"
                    };
                    report(
                        "DF011",
                        ins,
                        format!(
                            "{} {} puts a secret into the {place}",
                            ins.keyword,
                            leaked.join(", ")
                        ),
                    );
                }
            }
            "ADD" => {
                let has_checksum = ins.flag("checksum").is_some();
                let sources = add_sources(&ins.args);
                if !has_checksum && let Some(url) = sources.iter().find(|s| is_remote(s)) {
                    report(
                        "DF012",
                        ins,
                        format!("ADD fetches `{url}` without verifying it"),
                    );
                }
            }
            "COPY" => {
                if let Some(from) = ins.flag("from") {
                    let known_stage = earlier.iter().any(|s| {
                        s.name
                            .as_deref()
                            .is_some_and(|n| n.eq_ignore_ascii_case(from))
                    });
                    let stage_number = from.parse::<usize>().is_ok_and(|n| n < earlier.len());
                    let image_ref = from.contains([':', '/', '@', '$']);
                    if !known_stage && !stage_number && !image_ref {
                        let names: Vec<&str> =
                            earlier.iter().filter_map(|s| s.name.as_deref()).collect();
                        let hint = crate::suggest_from(from, &names)
                            .map(|n| format!("; did you mean `{n}`?"))
                            .unwrap_or_else(|| {
                                format!(
                                    "; if it is the image `{from}`, give it a tag (`{from}:<tag>`)"
                                )
                            });
                        report(
                            "DF019",
                            ins,
                            format!("COPY --from={from} names no earlier stage{hint}"),
                        );
                    }
                    // An image reference is pulled like a FROM, so it is pinned like one.
                    if !known_stage
                        && image_ref
                        && let Some(resolved) = substitute(from, global_args)
                        && let Some(image) = image::parse(&resolved)
                        && let Some((rule, message)) = pinning_finding(&resolved, &image)
                    {
                        report(rule, ins, format!("COPY --from: {message}"));
                    }
                }
            }
            "RUN" => check_run(ins, shell, report),
            _ => {}
        }
    }
    shell
}

/// The path of a mounted secret (`/run/secrets/db-password`): where the secret is, not the
/// secret.
fn is_secret_file_path(value: &str) -> bool {
    value.starts_with("/run/secrets/") || value.starts_with("/var/run/secrets/")
}

/// Whether `value` holds a URL with a literal password in its userinfo
/// (`mysql://root:pw@db/shop`); a password made of variables (`${DB_PASSWORD}`) is not one.
fn url_with_password(value: &str) -> bool {
    let mut rest = value;
    while let Some(at) = rest.find("://") {
        let after = &rest[at + 3..];
        let authority = after.split(['/', '?', '#', ' ']).next().unwrap_or_default();
        if let Some((userinfo, _host)) = authority.rsplit_once('@')
            && let Some((_user, password)) = userinfo.split_once(':')
            && !password.is_empty()
            && !password.contains('$')
        {
            return true;
        }
        rest = after;
    }
    false
}

fn add_sources(args: &str) -> Vec<String> {
    let words: Vec<String> = match serde_json::from_str::<Vec<String>>(args) {
        Ok(json) => json,
        Err(_) => args.split_whitespace().map(str::to_owned).collect(),
    };
    match words.split_last() {
        Some((_, sources)) => sources.to_vec(),
        None => Vec::new(),
    }
}

fn is_remote(source: &str) -> bool {
    source.starts_with("http://")
        || source.starts_with("https://")
        || source.starts_with("git@")
        || source.ends_with(".git")
}

/// `KEY=value KEY2="x y"` or the legacy `KEY value` form; ARG allows bare `NAME`.
fn key_values(args: &str, allow_bare: bool) -> Vec<(String, Option<String>)> {
    let words: Vec<Word> = shell::commands(args)
        .into_iter()
        .flat_map(|c| c.words)
        .collect();
    if words.is_empty() {
        return Vec::new();
    }
    if !words[0].text.contains('=') && !allow_bare {
        // Legacy form: ENV KEY value with spaces.
        let value = words[1..]
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        return vec![(words[0].text.clone(), Some(value))];
    }
    words
        .iter()
        .map(|w| match w.text.split_once('=') {
            Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
            None => (w.text.clone(), None),
        })
        .collect()
}

fn check_run(
    ins: &Instruction,
    shell_state: ShellState,
    report: &mut impl FnMut(&'static str, &Instruction, String),
) {
    let Some((script, mut pipefail)) = run_script(ins, shell_state) else {
        return;
    };
    let commands = shell::commands(&script);
    for (index, command) in commands.iter().enumerate() {
        if command.name() == Some("set") {
            pipefail = sets_pipefail_with(&command.words, pipefail);
        }
        // `case $x in a | b) ...`: the words up to the `)` are patterns, not a pipeline.
        let next_is_case_pattern = commands[index + 1..]
            .iter()
            .scan(true, |more, c| {
                let this = *more;
                *more = c.pipes_into_next;
                this.then_some(c)
            })
            .any(|c| c.words.first().is_some_and(|w| w.text.ends_with(')')));
        if pipefail {
            continue;
        }
        let message = if command.pipes_into_next && !next_is_case_pattern {
            let name = command.name().unwrap_or("the command");
            Some(format!(
                "`{name} | ...` without pipefail: the RUN succeeds even when `{name}` fails"
            ))
        } else if command.words.iter().any(|w| substitution_has_pipe(&w.text)) {
            Some(
                "a pipe inside `$(...)` without pipefail: a failure before the `|` goes unnoticed"
                    .to_owned(),
            )
        } else {
            None
        };
        if let Some(message) = message {
            report("DF026", ins, message);
            break;
        }
    }
    let mut installs_apt = false;
    let mut cleans_lists = false;
    // The first `apk add`/`apk update` without --no-cache, which leaves the index in the layer.
    let mut apk_caching: Option<String> = None;
    let mut cleans_apk_cache = false;
    let cache_mounts_apk = ins.flags.iter().any(|(name, value)| {
        name == "mount" && (value.contains("/var/cache/apk") || value.contains("/etc/apk/cache"))
    });
    let cache_mounts_apt = ins.flags.iter().any(|(name, value)| {
        name == "mount" && value.contains("type=cache") && value.contains("/var/lib/apt")
    });
    for command in &commands {
        let words = command.effective();
        let Some(name) = words.first().map(|w| w.text.as_str()) else {
            continue;
        };
        match name {
            "cd" if !command.in_subshell => report(
                "DF016",
                ins,
                "`cd` in RUN changes directory for this command only; use WORKDIR".into(),
            ),
            "apt-get" | "apt" => {
                let parsed = parse_apt(&words[1..]);
                if parsed.simulate {
                    // `-s`, `--dry-run`...: apt only prints what it would do.
                    continue;
                }
                match parsed.subcommand.as_deref() {
                    Some("dist-clean") => cleans_lists = true,
                    Some("install") => {
                        installs_apt = true;
                        if !parsed.no_recommends {
                            report(
                                "DF013",
                                ins,
                                format!("`{name} install` without --no-install-recommends"),
                            );
                        }
                        if !parsed.target_release {
                            let unpinned: Vec<&str> = parsed
                                .packages
                                .iter()
                                .filter(|p| {
                                    !p.dynamic && !is_local_path(&p.text) && !p.text.contains('=')
                                })
                                .map(|p| p.text.as_str())
                                .collect();
                            if !unpinned.is_empty() {
                                report(
                                    "DF022",
                                    ins,
                                    format!(
                                        "apt packages without a version: {}",
                                        unpinned.join(", ")
                                    ),
                                );
                            }
                        }
                    }
                    Some("upgrade" | "dist-upgrade" | "full-upgrade") => report(
                        "DF015",
                        ins,
                        format!(
                            "`{name} {}` inside an image build",
                            parsed.subcommand.as_deref().unwrap_or_default()
                        ),
                    ),
                    _ => {}
                }
            }
            "rm" if words.iter().any(|w| removes_apt_lists(&w.text)) => {
                cleans_lists = true;
                cleans_apk_cache |= words.iter().any(|w| removes_apk_cache(&w.text));
            }
            "rm" if words.iter().any(|w| removes_apk_cache(&w.text)) => {
                cleans_apk_cache = true;
            }
            "apk" => {
                let call = parse_apk(&words[1..]);
                if call.simulate {
                    continue;
                }
                if matches!(call.subcommand.as_deref(), Some("add" | "update")) && !call.no_cache {
                    apk_caching.get_or_insert(call.subcommand.clone().unwrap_or_default());
                }
                if call.subcommand.as_deref() == Some("add") {
                    let unpinned: Vec<&str> = call
                        .packages
                        .iter()
                        .filter(|p| {
                            !p.dynamic
                                && !is_local_path(&p.text)
                                && !p.text.ends_with(".apk")
                                && !p.text.contains(['=', '~', '<', '>'])
                        })
                        .map(|p| p.text.as_str())
                        .collect();
                    if !unpinned.is_empty() {
                        report(
                            "DF027",
                            ins,
                            format!("apk packages without a version: {}", unpinned.join(", ")),
                        );
                    }
                }
            }
            _ => {}
        }
        if let Some(packages) = pip_install_packages(words) {
            let unpinned: Vec<&str> = packages
                .iter()
                .filter(|p| !pip_pinned(p))
                .map(|p| p.text.as_str())
                .collect();
            if !unpinned.is_empty() {
                report(
                    "DF023",
                    ins,
                    format!("pip packages without a version: {}", unpinned.join(", ")),
                );
            }
        }
        if let Some(packages) = node_install_packages(words) {
            let unpinned: Vec<&str> = packages
                .iter()
                .filter(|p| !node_pinned(p))
                .map(|p| p.text.as_str())
                .collect();
            if !unpinned.is_empty() {
                report(
                    "DF024",
                    ins,
                    format!("node packages without a version: {}", unpinned.join(", ")),
                );
            }
        }
    }
    if let Some(subcommand) = apk_caching
        && !cleans_apk_cache
        && !cache_mounts_apk
    {
        report(
            "DF028",
            ins,
            format!(
                "`apk {subcommand}` without --no-cache leaves the package index in /var/cache/apk"
            ),
        );
    }
    if installs_apt && !cleans_lists && !cache_mounts_apt {
        report(
            "DF014",
            ins,
            "apt-get install leaves /var/lib/apt/lists in the layer".into(),
        );
    }
}

/// `rm` of apk's index and package cache: `/var/cache/apk/*`, `/var/cache/apk`.
fn removes_apk_cache(path: &str) -> bool {
    let path = path.trim_end_matches(['*', '/']);
    path == "/var/cache/apk" || path == "/var/cache" || path.starts_with("/var/cache/apk/")
}

struct ApkCall<'a> {
    subcommand: Option<String>,
    packages: Vec<&'a Word>,
    no_cache: bool,
    simulate: bool,
}

/// `apk [options] add [options] packages...`; options may come before and after the
/// subcommand.
fn parse_apk(args: &[Word]) -> ApkCall<'_> {
    const WITH_VALUE: &[&str] = &[
        "-t",
        "--virtual",
        "-X",
        "--repository",
        "-p",
        "--root",
        "--arch",
        "--keys-dir",
        "--cache-dir",
        "--repositories-file",
        "--cache-max-age",
        "--timeout",
        "--progress-fd",
        "--from",
    ];
    let mut call = ApkCall {
        subcommand: None,
        packages: Vec::new(),
        no_cache: false,
        simulate: false,
    };
    let mut iter = args.iter();
    while let Some(word) = iter.next() {
        let text = word.text.as_str();
        match text {
            "--no-cache" => call.no_cache = true,
            "-s" | "--simulate" => call.simulate = true,
            _ if WITH_VALUE.contains(&text) => {
                iter.next();
            }
            _ if text.starts_with('-') => {}
            _ if call.subcommand.is_none() => call.subcommand = Some(text.to_owned()),
            _ => call.packages.push(word),
        }
    }
    call
}

/// `rm` of the lists themselves or of a directory that holds them (`/var/lib/apt/*`).
fn removes_apt_lists(path: &str) -> bool {
    let path = path.trim_end_matches(['*', '/']);
    path.starts_with("/var/lib/apt/lists") || path == "/var/lib/apt" || path == "/var/lib"
}

/// Whether a `$( ... )` in the word runs a pipeline, whose failure the substitution hides.
fn substitution_has_pipe(word: &str) -> bool {
    let mut rest = word;
    while let Some(at) = rest.find("$(") {
        let inner = &rest[at + 2..];
        let mut depth = 1;
        let end = inner
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map_or(inner.len(), |(i, _)| i);
        let commands = shell::commands(&inner[..end]);
        if commands.iter().any(|c| c.pipes_into_next)
            || commands
                .iter()
                .flat_map(|c| &c.words)
                .any(|w| substitution_has_pipe(&w.text))
        {
            return true;
        }
        rest = &inner[end..];
    }
    false
}

/// `set -o pipefail` / `set +o pipefail` applied to the current setting.
fn sets_pipefail_with(words: &[Word], current: bool) -> bool {
    let mut on = current;
    for pair in words.windows(2) {
        let (flag, value) = (pair[0].text.as_str(), pair[1].text.as_str());
        if value == "pipefail" && flag.len() > 1 && flag.ends_with('o') {
            on = flag.starts_with('-');
        }
    }
    on
}

/// The shell script a RUN runs and whether pipefail is on at its start; None when it is not
/// run by a POSIX shell (exec form of another program, a PowerShell or cmd stage, a heredoc
/// with a `#!` line naming another interpreter).
fn run_script(ins: &Instruction, shell_state: ShellState) -> Option<(String, bool)> {
    if let Some(argv) = &ins.json {
        // Exec form: a shell script only when the program is a shell started with -c;
        // otherwise the words are one command, where `|` is a plain argument.
        let program = program_name(argv.first()?);
        return match argv.iter().position(|a| a == "-c") {
            Some(dash_c) if is_posix_shell(&program) => {
                Some((argv[dash_c + 1..].join(" "), sets_pipefail(&argv[..dash_c])))
            }
            _ if is_posix_shell(&program)
                || matches!(program.as_str(), "powershell" | "pwsh" | "cmd") =>
            {
                None
            }
            _ => Some((ins.script(), true)),
        };
    }
    if !shell_state.posix {
        return None;
    }
    let script = ins.script();
    let command_line = ins.args.lines().next().unwrap_or_default();
    if let Some(heredoc) = ins.heredocs.first()
        && command_line
            .split("<<")
            .next()
            .unwrap_or_default()
            .trim()
            .is_empty()
        && let Some(shebang) = heredoc
            .body
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("#!"))
    {
        // BuildKit runs a heredoc with a `#!` line as a script file of that interpreter.
        let words: Vec<&str> = shebang.split_whitespace().collect();
        let program = match words.first().map(|w| program_name(w)) {
            Some(env) if env == "env" => words
                .iter()
                .skip(1)
                .find(|w| !w.starts_with('-'))
                .map(|w| program_name(w))
                .unwrap_or_default(),
            Some(program) => program,
            None => String::new(),
        };
        if !is_posix_shell(&program) {
            return None;
        }
        return Some((script, sets_pipefail(&words)));
    }
    Some((script, shell_state.pipefail))
}

struct AptCall<'a> {
    subcommand: Option<String>,
    packages: Vec<&'a Word>,
    no_recommends: bool,
    target_release: bool,
    /// `-s`, `--simulate`, `--dry-run`, `--just-print`, `--no-act`, `--recon`: nothing is
    /// installed or changed.
    simulate: bool,
}

fn is_apt_simulate(flag: &str) -> bool {
    if matches!(
        flag,
        "--simulate" | "--dry-run" | "--just-print" | "--no-act" | "--recon"
    ) {
        return true;
    }
    // Short options may be bundled (`-sy`); `-o`, `-t` and `-c` take a value, so a bundle
    // holding one of them is not read further.
    flag.strip_prefix('-').is_some_and(|letters| {
        !letters.starts_with('-')
            && letters.chars().all(|c| c.is_ascii_alphabetic())
            && !letters.contains(['o', 't', 'c'])
            && letters.contains('s')
    })
}

fn parse_apt(args: &[Word]) -> AptCall<'_> {
    let mut call = AptCall {
        subcommand: None,
        packages: Vec::new(),
        no_recommends: false,
        target_release: false,
        simulate: false,
    };
    let mut iter = args.iter();
    while let Some(word) = iter.next() {
        let text = word.text.as_str();
        if is_apt_simulate(text) {
            call.simulate = true;
            continue;
        }
        match text {
            "--no-install-recommends" => call.no_recommends = true,
            "-t" | "--target-release" | "--default-release" => {
                call.target_release = true;
                iter.next();
            }
            "-o" | "-c" | "--option" | "--config-file" => {
                if let Some(option) = iter.next() {
                    let lower = option.text.to_ascii_lowercase();
                    let value = lower.rsplit('=').next().unwrap_or_default();
                    if lower.starts_with("apt::install-recommends=")
                        && matches!(value, "false" | "0" | "no")
                    {
                        call.no_recommends = true;
                    }
                    if lower.starts_with("apt::get::simulate=")
                        && matches!(value, "true" | "1" | "yes")
                    {
                        call.simulate = true;
                    }
                }
            }
            _ if text.starts_with("--target-release=")
                || text.starts_with("--default-release=") =>
            {
                call.target_release = true
            }
            _ if text.starts_with("-o")
                && text
                    .to_ascii_lowercase()
                    .contains("apt::install-recommends=false") =>
            {
                call.no_recommends = true
            }
            _ if text.starts_with('-') => {}
            _ if call.subcommand.is_none() => call.subcommand = Some(text.to_owned()),
            _ => call.packages.push(word),
        }
    }
    call
}

fn is_local_path(text: &str) -> bool {
    text.starts_with('.') || text.starts_with('/') || text.ends_with(".deb") || text.contains('*')
}

const PIP_OPTIONS_WITH_VALUE: &[&str] = &[
    "-r",
    "--requirement",
    "-c",
    "--constraint",
    "-e",
    "--editable",
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "-t",
    "--target",
    "--prefix",
    "--root",
    "--trusted-host",
    "--src",
    "--platform",
    "--python-version",
    "--implementation",
    "--abi",
    "--no-binary",
    "--only-binary",
    "--progress-bar",
    "--cache-dir",
    "--log",
    "--proxy",
    "--retries",
    "--timeout",
    "--upgrade-strategy",
    "--global-option",
    "--config-settings",
    "--root-user-action",
    "-C",
    "--report",
    "--python",
    "--exists-action",
];

/// Packages named on a `pip install` command line (not requirement files or paths).
fn pip_install_packages(words: &[Word]) -> Option<Vec<&Word>> {
    let name = words.first()?.text.as_str();
    let rest = if name == "pip"
        || (name.starts_with("pip") && name[3..].chars().all(|c| c.is_ascii_digit() || c == '.'))
    {
        &words[1..]
    } else if name.starts_with("python")
        && words.get(1).is_some_and(|w| w.text == "-m")
        && words.get(2).is_some_and(|w| w.text == "pip")
    {
        &words[3..]
    } else {
        return None;
    };
    let mut iter = rest.iter();
    let mut seen_install = false;
    let mut packages = Vec::new();
    while let Some(word) = iter.next() {
        let text = word.text.as_str();
        if !seen_install {
            if text == "install" {
                seen_install = true;
            } else if !text.starts_with('-') {
                return None;
            }
            continue;
        }
        if PIP_OPTIONS_WITH_VALUE.contains(&text) {
            iter.next();
            continue;
        }
        let names_a_package = !text.starts_with('-')
            && !word.dynamic
            && !is_local_path(text)
            && !text.contains("://")
            && ![".whl", ".tar.gz", ".zip"]
                .iter()
                .any(|ext| text.ends_with(ext));
        if names_a_package {
            packages.push(word);
        }
    }
    seen_install.then_some(packages)
}

fn pip_pinned(word: &Word) -> bool {
    ["==", "~=", ">=", "<=", "!=", "<", ">", "@"]
        .iter()
        .any(|op| word.text.contains(op))
}

/// Packages named on `npm install|i|add`, `yarn add`, `pnpm add|install`.
fn node_install_packages(words: &[Word]) -> Option<Vec<&Word>> {
    let tool = words.first()?.text.as_str();
    let verbs: &[&str] = match tool {
        "npm" => &["install", "i", "add", "isntall", "in"],
        "yarn" => &["add"],
        "pnpm" => &["add", "install", "i"],
        _ => return None,
    };
    let mut iter = words[1..].iter();
    let mut seen_verb = false;
    let mut packages = Vec::new();
    while let Some(word) = iter.next() {
        let text = word.text.as_str();
        if !seen_verb {
            if text == "global" && tool == "yarn" {
                continue;
            }
            if verbs.contains(&text) {
                seen_verb = true;
            } else if text.starts_with('-') {
                if matches!(text, "--prefix" | "-C" | "--cwd" | "--dir") {
                    iter.next();
                }
            } else {
                return None;
            }
            continue;
        }
        if matches!(
            text,
            "--prefix" | "--registry" | "--cache" | "--tag" | "--cwd" | "-C" | "--dir"
        ) {
            iter.next();
        } else if text.starts_with('-')
            || word.dynamic
            || is_local_path(text)
            || text.contains(':')
            || text.ends_with(".tgz")
            || text.ends_with(".tar.gz")
        {
        } else {
            packages.push(word);
        }
    }
    seen_verb.then_some(packages)
}

fn node_pinned(word: &Word) -> bool {
    let text = word.text.trim_start_matches('@');
    match text.split_once('@') {
        Some((_, version)) => !matches!(version, "" | "latest" | "next" | "*" | "x"),
        None => false,
    }
}
