pub mod approve;
pub mod aws;
pub mod aws_login;
pub mod base;
pub mod build;
pub mod ci;
pub mod completions;
pub mod config;
pub mod containers;
pub mod deploy;
pub mod ecs;
pub mod environment;
pub mod hosts;
pub mod images;
pub mod init;
pub mod jobs;
pub mod lint;
pub mod logs;
pub mod maintenance;
pub mod notify;
pub mod pipeline;
pub mod pipeline_runs;
pub mod project;
pub mod promote;
pub mod proxy;
pub mod pull_request;
pub mod push;
pub mod releases;
pub mod schema;
pub mod serve;

/// `--output text|json` for commands a script may read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    #[default]
    Text,
    Json,
}

/// The async runtime a command's engine, registry and AWS calls run on.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Runtime::new().context("cannot start the async runtime")
}

/// Runs `work` against the local Docker Engine, on a new runtime.
pub fn with_engine<T, E: Into<anyhow::Error>>(
    work: impl AsyncFnOnce(&slipway_docker::Engine) -> Result<T, E>,
) -> anyhow::Result<T> {
    runtime()?.block_on(async {
        let engine = slipway_docker::Engine::connect().await?;
        work(&engine).await.map_err(Into::into)
    })
}

/// A progress bar on stderr when it is a terminal and the output is for a person; hidden
/// otherwise, so logs and scripts see plain lines only.
pub fn progress_bar(output: Output, message: String) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if output != Output::Text || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} {elapsed}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(message);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// An error and its causes on one line, each text once. Library errors name their source in
/// their own message (`{path}: {source}`) and keep it as their source too, so printing the
/// chain would show an OS error's text twice: a cause whose text is already shown is left out.
pub fn error_text(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let message = cause.to_string();
        if message.is_empty() || text.contains(&message) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&message);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::error_text;

    /// The shape of the library errors: the source in the message and as the source.
    #[derive(Debug)]
    struct Io {
        path: String,
        source: std::io::Error,
    }

    impl std::fmt::Display for Io {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{}: {}", self.path, self.source)
        }
    }

    impl std::error::Error for Io {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.source)
        }
    }

    #[test]
    fn an_os_error_repeated_by_its_wrapper_is_shown_once() {
        let source = std::io::Error::from_raw_os_error(27);
        let os_text = source.to_string();
        let error = anyhow::Error::new(Io {
            path: ".slipway/config/dev/api.env".into(),
            source,
        })
        .context("cannot render dev");
        let text = error_text(&error);
        assert_eq!(
            text,
            format!("cannot render dev: .slipway/config/dev/api.env: {os_text}")
        );
        assert_eq!(text.matches(&os_text).count(), 1);
    }
}
