//! What an engine says about its host, for `slipway hosts check`: its version, data root and
//! clock, which container publishes a port, whether it reaches a registry, and a throwaway
//! container on the host's network with the data root mounted read-only.

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};

use crate::{Engine, Finished, Result, engine};

/// The engine's own account of itself (`GET /info`).
#[derive(Debug, Clone, Default)]
pub struct EngineFacts {
    /// e.g. `26.1.5`.
    pub version: String,
    /// The API version both sides speak.
    pub api_version: String,
    /// Where the engine keeps images, containers and volumes (`DockerRootDir`).
    pub root_dir: String,
    /// The engine's clock when it answered, RFC 3339 with nanoseconds.
    pub system_time: Option<String>,
    /// e.g. `Debian GNU/Linux 12 (bookworm)`.
    pub os: String,
}

impl Engine {
    /// The engine's version, data root and clock.
    pub async fn facts(&self) -> Result<EngineFacts> {
        let info = self.docker.info().await.map_err(engine)?;
        Ok(EngineFacts {
            version: info.server_version.unwrap_or_default(),
            api_version: self.docker.client_version().to_string(),
            root_dir: info
                .docker_root_dir
                .unwrap_or_else(|| "/var/lib/docker".into()),
            system_time: info.system_time,
            os: info.operating_system.unwrap_or_default(),
        })
    }

    /// The running container that publishes TCP port `port` on `ip` (or on every address).
    pub async fn publisher_of(&self, ip: &str, port: u16) -> Result<Option<String>> {
        let containers = self
            .docker
            .list_containers(Some(ListContainersOptionsBuilder::default().build()))
            .await
            .map_err(engine)?;
        Ok(containers.into_iter().find_map(|c| {
            let publishes = c.ports.iter().flatten().any(|p| {
                p.public_port == Some(port)
                    && p.ip
                        .as_deref()
                        .is_none_or(|bound| bound == ip || bound == "0.0.0.0" || bound == "::")
            });
            publishes.then(|| {
                c.names
                    .and_then(|n| n.into_iter().next())
                    .map(|n| n.trim_start_matches('/').to_owned())
                    .unwrap_or_default()
            })
        }))
    }

    /// Asks the engine for an image's manifest in a registry (`GET /distribution`), which has
    /// the engine itself contact the registry. The engine's error text when it fails.
    pub async fn registry_answer(&self, reference: &str) -> std::result::Result<(), String> {
        match self.docker.inspect_registry_image(reference, None).await {
            Ok(_) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError { message, .. }) => Err(message),
            Err(error) => Err(error.to_string()),
        }
    }

    /// Runs `command` in a throwaway container of `image` on the host's network, with
    /// `binds` (`host:container:ro`), and returns its output; the container is always removed.
    pub async fn probe(
        &self,
        image: &str,
        command: &[String],
        binds: &[String],
    ) -> Result<Finished> {
        let body = ContainerCreateBody {
            image: Some(image.to_owned()),
            cmd: Some(command.to_vec()),
            tty: Some(false),
            host_config: Some(HostConfig {
                network_mode: Some("host".into()),
                binds: Some(binds.to_vec()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(Some(CreateContainerOptionsBuilder::default().build()), body)
            .await
            .map_err(engine)?;
        let result = self.run_created(&created.id).await;
        let _ = self
            .docker
            .remove_container(
                &created.id,
                Some(
                    RemoveContainerOptionsBuilder::default()
                        .force(true)
                        .v(true)
                        .build(),
                ),
            )
            .await;
        result
    }
}
