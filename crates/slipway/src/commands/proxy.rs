//! `slipway proxy run|ctl`: the proxy process itself (what runs in the proxy's container on
//! each host) and the one-shot client slipway execs in that container to give it orders.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use slipway_proxy::admin::{Answer, Command};

/// The reverse proxy slipway runs on each Docker host (started by `slipway deploy`).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  slipway proxy run --listen 0.0.0.0:8090 --listen-tls 0.0.0.0:8443 --state /var/lib/slipway-proxy/routes.json\n  slipway proxy ctl '{\"op\":\"status\"}'"
)]
pub struct ProxyArgs {
    #[command(subcommand)]
    command: ProxyCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ProxyCommand {
    /// Serve: route the public port to the live releases; orders on the admin socket.
    Run {
        #[arg(long, default_value = "0.0.0.0:8090")]
        listen: SocketAddr,
        /// Address of the HTTPS port (hosts with a certificate; `tls/` beside the state file).
        #[arg(long)]
        listen_tls: Option<SocketAddr>,
        /// Address of the Prometheus `/metrics` endpoint.
        #[arg(long)]
        metrics: Option<SocketAddr>,
        /// The routing table, kept across restarts.
        #[arg(long, default_value = "/var/lib/slipway-proxy/routes.json")]
        state: PathBuf,
        #[arg(long, default_value = "/run/slipway-proxy/admin.sock")]
        socket: PathBuf,
        /// Worker threads; 1 runs everything on one thread (lowest latency on small hosts).
        #[arg(long, env = "SLIPWAY_PROXY_THREADS")]
        threads: Option<usize>,
        /// Where each request's JSON line goes (`slipway logs ENV --proxy` reads stdout).
        #[arg(long, value_enum, default_value_t = AccessLogTo::Stdout)]
        access_log: AccessLogTo,
    },
    /// What `slipway hosts check` runs on a host: free disk under a path and whether
    /// addresses can be bound, as JSON.
    #[command(hide = true)]
    Probe {
        #[arg(long)]
        disk: PathBuf,
        #[arg(long)]
        bind: Vec<String>,
    },
    /// Send one JSON command to a running proxy and print its JSON answer.
    Ctl {
        #[arg(long, default_value = "/run/slipway-proxy/admin.sock")]
        socket: PathBuf,
        /// e.g. `{"op":"status"}`
        command: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum AccessLogTo {
    Stdout,
    Off,
}

pub fn run(args: ProxyArgs) -> Result<ExitCode> {
    let runtime = match &args.command {
        ProxyCommand::Run {
            threads: Some(1), ..
        } => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        ProxyCommand::Run {
            threads: Some(n), ..
        } => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(*n)
            .enable_all()
            .build(),
        _ => tokio::runtime::Runtime::new(),
    }
    .context("cannot start the async runtime")?;
    match args.command {
        ProxyCommand::Run {
            listen,
            listen_tls,
            metrics,
            state,
            socket,
            threads: _,
            access_log,
        } => runtime.block_on(async {
            let config = slipway_proxy::Config {
                listen,
                listen_tls,
                metrics,
                admin_socket: socket,
                state_file: state,
            };
            let mut proxy = slipway_proxy::Proxy::bind(&config).await?;
            if access_log == AccessLogTo::Stdout {
                proxy = proxy.with_access_log(slipway_proxy::access_log::AccessLog::to_stdout());
            }
            eprintln!(
                "slipway proxy on {}; HTTPS on {}; metrics on {}; orders on {}",
                proxy.public_address(),
                proxy.tls_address().map_or("-".into(), |a| a.to_string()),
                metrics.map_or("-".into(), |m| m.to_string()),
                config.admin_socket.display()
            );
            // As a container's first process nothing stops it by default: SIGTERM (docker stop,
            // restart) ends it at once instead of after the engine's timeout.
            let mut terminate =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .context("cannot watch for SIGTERM")?;
            tokio::select! {
                () = proxy.run() => {}
                _ = terminate.recv() => eprintln!("slipway proxy: SIGTERM, stopping"),
                _ = tokio::signal::ctrl_c() => eprintln!("slipway proxy: interrupted, stopping"),
            }
            Ok(ExitCode::SUCCESS)
        }),
        ProxyCommand::Probe { disk, bind } => {
            let probe = slipway_deploy::hosts_check::probe_here(&disk, &bind);
            println!("{}", serde_json::to_string(&probe)?);
            Ok(ExitCode::SUCCESS)
        }
        ProxyCommand::Ctl { socket, command } => {
            // The answer is always JSON on stdout, so the caller parses one thing.
            let answer = match serde_json::from_str::<Command>(&command) {
                Ok(command) => runtime
                    .block_on(slipway_proxy::admin::send(&socket, &command))
                    .unwrap_or_else(|e| Answer::failed(e.to_string())),
                Err(error) => Answer::failed(format!("not a command: {error}")),
            };
            println!("{}", serde_json::to_string(&answer)?);
            Ok(if answer.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
