pub mod aws;
pub mod aws_login;
pub mod base;
pub mod build;
pub mod ci;
pub mod completions;
pub mod config;
pub mod deploy;
pub mod ecs;
pub mod environment;
pub mod images;
pub mod init;
pub mod lint;
pub mod notify;
pub mod pipeline;
pub mod project;
pub mod promote;
pub mod proxy;
pub mod pull_request;
pub mod push;
pub mod schema;
pub mod serve;

/// `--output text|json` for commands a script may read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    #[default]
    Text,
    Json,
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
