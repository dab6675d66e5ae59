//! The slipway command line: parse, call a library, add context.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod commands;
mod pipe;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "slipway",
    version,
    about = "Carry a containerised app from its base image to production",
    after_help = "Examples:\n  slipway init shop            scaffold a new project in ./shop\n  slipway lint                 check slipway.toml, Dockerfiles, compose files and layout\n  slipway schema > slipway.schema.json"
)]
struct Cli {
    /// When to colour output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    fn enabled(self) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    Init(commands::init::InitArgs),
    Base(commands::base::BaseArgs),
    Config(commands::config::ConfigArgs),
    Up(commands::environment::UpArgs),
    Down(commands::environment::DownArgs),
    Ps(commands::containers::PsArgs),
    Test(commands::containers::TestArgs),
    Logs(commands::logs::LogsArgs),
    Exec(commands::containers::ExecArgs),
    Run(commands::containers::RunArgs),
    Jobs(commands::jobs::JobsArgs),
    Compose(commands::environment::ComposeArgs),
    Pull(commands::environment::PullArgs),
    Deploy(commands::deploy::DeployArgs),
    Rollback(commands::deploy::RollbackArgs),
    Releases(commands::releases::ReleasesArgs),
    Status(commands::releases::StatusArgs),
    Proxy(commands::proxy::ProxyArgs),
    Maintenance(commands::maintenance::MaintenanceArgs),
    Hosts(commands::hosts::HostsArgs),
    Ecs(commands::ecs::EcsArgs),
    Pipeline(commands::pipeline::PipelineArgs),
    Approve(commands::approve::ApproveArgs),
    /// Reject the gate a pipeline run waits at; the run stops and deploys nothing.
    #[command(
        after_help = "Examples:\n  slipway reject 12 --comment \"stage shows the old prices\""
    )]
    Reject(commands::approve::ApproveArgs),
    PullRequest(commands::pull_request::PullRequestArgs),
    Ci(commands::ci::CiArgs),
    Serve(commands::serve::ServeArgs),
    Aws(commands::aws::AwsArgs),
    Build(commands::build::BuildArgs),
    Push(commands::push::PushArgs),
    Promote(commands::promote::PromoteArgs),
    Images(commands::images::ImagesArgs),
    Inspect(commands::images::InspectArgs),
    Lint(commands::lint::LintArgs),
    Schema(commands::schema::SchemaArgs),
    Completions(commands::completions::CompletionsArgs),
}

fn main() -> ExitCode {
    pipe::end_quietly_when_the_reader_goes_away();
    let cli = Cli::parse();
    let color = cli.color.enabled();
    commands::aws_login::install();
    let result = match cli.command {
        Command::Init(args) => commands::init::run(args),
        Command::Base(args) => commands::base::run(args),
        Command::Config(args) => commands::config::run(args),
        Command::Up(args) => commands::environment::run_up(args),
        Command::Down(args) => commands::environment::run_down(args),
        Command::Ps(args) => commands::containers::run_ps(args),
        Command::Test(args) => commands::containers::run_test(args),
        Command::Logs(args) => commands::logs::run_logs(args),
        Command::Exec(args) => commands::containers::run_exec(args),
        Command::Run(args) => commands::containers::run_one_off(args),
        Command::Jobs(args) => commands::jobs::run(args),
        Command::Compose(args) => commands::environment::run_compose(args),
        Command::Pull(args) => commands::environment::run_pull(args),
        Command::Deploy(args) => commands::deploy::run_deploy(args),
        Command::Rollback(args) => commands::deploy::run_rollback(args),
        Command::Releases(args) => commands::releases::run_releases(args),
        Command::Status(args) => commands::releases::run_status(args),
        Command::Proxy(args) => commands::proxy::run(args),
        Command::Maintenance(args) => commands::maintenance::run(args),
        Command::Hosts(args) => commands::hosts::run(args),
        Command::Ecs(args) => commands::ecs::run(args),
        Command::Pipeline(args) => commands::pipeline::run(args),
        Command::Approve(args) => commands::approve::run_approve(args),
        Command::Reject(args) => commands::approve::run_reject(args),
        Command::PullRequest(args) => commands::pull_request::run(args),
        Command::Ci(args) => commands::ci::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Aws(args) => commands::aws::run(args),
        Command::Build(args) => commands::build::run(args),
        Command::Push(args) => commands::push::run(args),
        Command::Promote(args) => commands::promote::run(args),
        Command::Images(args) => commands::images::images(args),
        Command::Inspect(args) => commands::images::inspect(args),
        Command::Lint(args) => commands::lint::run(args, color),
        Command::Schema(args) => commands::schema::run(args),
        Command::Completions(args) => commands::completions::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) if pipe::is_broken_pipe(&error) => pipe::exit_as_if_signalled(),
        Err(error) => {
            // An error may quote a branch name, a commit or a step's output: each cause is
            // printed once, escaped.
            let message = commands::error_text(&error);
            let lines: Vec<_> = message
                .split('\n')
                .map(slipway_core::terminal::printable)
                .collect();
            eprintln!("error: {}", lines.join("\n"));
            ExitCode::from(2)
        }
    }
}
