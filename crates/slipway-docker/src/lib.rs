//! The Docker Engine adapter (bollard): image builds from a Dockerfile, one-off containers for
//! tests, pushes, and pulls through the Docker Hub mirror.

#![warn(missing_docs)]

pub mod api;
pub mod base;
pub mod checks;
pub mod environment;
pub mod facts;
pub mod running;
pub mod secrets;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateContainerOptionsBuilder, CreateImageOptionsBuilder,
    LogsOptionsBuilder, PushImageOptionsBuilder, RemoveContainerOptionsBuilder,
    TagImageOptionsBuilder,
};
use futures_util::StreamExt;
use slipway_oci::credentials::Credential;

/// What the engine adapter and the base pipeline can fail with.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// An environment slipway.toml does not have (with the closest name it has).
    #[error(transparent)]
    Manifest(#[from] slipway_core::ManifestError),
    /// The local engine (DOCKER_HOST or the default socket) could not be reached.
    #[error(
        "cannot reach the Docker Engine ({0}): is it running? (scripts/testbed.sh up starts one)"
    )]
    Connect(#[source] bollard::errors::Error),
    /// The same, for an engine named by host (`ssh://deploy@host`).
    #[error(
        "cannot reach the Docker Engine ({host}: {source}): is it running? (scripts/testbed.sh up starts one)"
    )]
    ConnectHost {
        /// The engine's URL.
        host: String,
        /// What the client said.
        #[source]
        source: bollard::errors::Error,
    },
    /// What the engine answered or did that stops the command, in slipway's words.
    #[error("Docker Engine: {0}")]
    Engine(String),
    /// A call to the engine's API failed.
    #[error("Docker Engine: {0}")]
    Api(#[source] bollard::errors::Error),
    /// A base's registry or an app's image in the local store (slipway-oci) failed.
    #[error("Docker Engine: {0}")]
    Image(#[source] slipway_oci::OciError),
    /// The same, for one app.
    #[error("Docker Engine: app `{app}`: {source}")]
    AppImage {
        /// The app's name in slipway.toml.
        app: String,
        /// What the store or registry said.
        #[source]
        source: slipway_oci::OciError,
    },
    /// A build failed; the message is the engine's.
    #[error("building {image}: {message}")]
    Build {
        /// The image being built.
        image: String,
        /// What the engine reported.
        message: String,
    },
    /// The build's progress stream broke off.
    #[error("building {image}: {source}")]
    BuildStream {
        /// The image being built.
        image: String,
        /// What the client said.
        #[source]
        source: bollard::errors::Error,
    },
    /// Nothing of an environment (or of the one app or service asked for) is running.
    #[error(
        "nothing of `{environment}` is running{}: run `slipway up {environment}`",
        name.as_deref().map(|n| format!(" named `{n}`")).unwrap_or_default()
    )]
    NotRunning {
        /// The environment.
        environment: String,
        /// The app or service asked for.
        name: Option<String>,
    },
    /// An environment `slipway test` was asked to check has no checks.
    #[error(
        "environment `{environment}` has no tests: add `tests = [...]` to [environments.{environment}]"
    )]
    NoTests {
        /// The environment.
        environment: String,
    },
    /// A local file or directory (a Dockerfile, the state dir) could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
}

/// The result of the adapter's functions, failing with a [`DockerError`] unless told otherwise.
pub type Result<T, E = DockerError> = std::result::Result<T, E>;

pub(crate) fn engine(error: bollard::errors::Error) -> DockerError {
    DockerError::Api(error)
}

/// A connection to one Docker Engine, at the API version both sides speak.
#[derive(Debug, Clone)]
pub struct Engine {
    pub(crate) docker: Docker,
}

/// What a one-off container printed and how it ended.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The container's exit code.
    pub exit_code: i64,
    /// What it printed, standard output and error together.
    pub output: String,
}

impl Engine {
    /// The local engine (DOCKER_HOST or /var/run/docker.sock), at the API version it speaks.
    pub async fn connect() -> Result<Engine> {
        let docker = Docker::connect_with_local_defaults().map_err(DockerError::Connect)?;
        let docker = docker
            .negotiate_version()
            .await
            .map_err(DockerError::Connect)?;
        Ok(Engine { docker })
    }

    /// An engine named by URL: `unix:///path`, `tcp://host:port` (TLS when DOCKER_TLS_VERIFY
    /// is set, with the certificates of DOCKER_CERT_PATH) or `ssh://user@host`.
    pub async fn connect_to(host: &str) -> Result<Engine> {
        let docker =
            Docker::connect_with_host(host).map_err(|source| DockerError::ConnectHost {
                host: host.to_string(),
                source,
            })?;
        let docker =
            docker
                .negotiate_version()
                .await
                .map_err(|source| DockerError::ConnectHost {
                    host: host.to_string(),
                    source,
                })?;
        Ok(Engine { docker })
    }

    /// Gives an image another name, e.g. a release's tag that keeps it from being pruned.
    pub async fn tag(&self, image: &str, as_name: &str) -> Result<()> {
        let (repo, tag) = split_tag(as_name);
        let options = TagImageOptionsBuilder::default()
            .repo(&repo)
            .tag(&tag)
            .build();
        self.docker
            .tag_image(image, Some(options))
            .await
            .map_err(engine)
    }

    /// Removes an image name; the image goes when no name or container holds it.
    pub async fn untag(&self, name: &str) -> Result<()> {
        match self
            .docker
            .remove_image(
                name,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404 | 409,
                ..
            }) => Ok(()),
            Err(error) => Err(engine(error)),
        }
    }

    /// Whether the engine has the image `reference`.
    pub async fn has_image(&self, reference: &str) -> bool {
        self.docker.inspect_image(reference).await.is_ok()
    }

    /// The image's ID (`sha256:...` of its config), if the engine has it.
    pub async fn image_id(&self, reference: &str) -> Option<String> {
        self.docker
            .inspect_image(reference)
            .await
            .ok()
            .and_then(|i| i.id)
    }

    /// Pulls `reference` (`repo:tag` or `repo@digest`).
    pub async fn pull(&self, reference: &str, credential: Option<&Credential>) -> Result<()> {
        let (repository, tag) = match reference.split_once('@') {
            Some((repository, digest)) => (repository.to_owned(), digest.to_owned()),
            None => split_tag(reference),
        };
        let options = CreateImageOptionsBuilder::default()
            .from_image(&repository)
            .tag(&tag)
            .build();
        let mut stream = self
            .docker
            .create_image(Some(options), None, credentials(credential));
        while let Some(item) = stream.next().await {
            let info = item.map_err(engine)?;
            if let Some(detail) = info.error_detail {
                return Err(DockerError::Engine(format!(
                    "pulling {reference}: {}",
                    detail.message.unwrap_or_default()
                )));
            }
        }
        Ok(())
    }

    /// Pulls `from` and tags it `as_name` (an official image resolved through a mirror).
    pub async fn pull_as(
        &self,
        from: &str,
        as_name: &str,
        credential: Option<&Credential>,
    ) -> Result<()> {
        self.pull(from, credential).await?;
        self.tag(from, as_name).await
    }

    /// Builds `dockerfile` in `context` and tags the result with every name of `tags`.
    /// Build output goes to `log` line by line.
    pub async fn build(
        &self,
        context: &Path,
        dockerfile: &Path,
        tags: &[String],
        build_args: &HashMap<String, String>,
        log: &mut (dyn FnMut(&str) + Send),
    ) -> Result<String> {
        self.build_target(context, dockerfile, None, tags, build_args, log)
            .await
    }

    /// Like `build`, stopping at the stage `target` of a multi-stage Dockerfile.
    pub async fn build_target(
        &self,
        context: &Path,
        dockerfile: &Path,
        target: Option<&str>,
        tags: &[String],
        build_args: &HashMap<String, String>,
        log: &mut (dyn FnMut(&str) + Send),
    ) -> Result<String> {
        let first = tags.first().cloned().unwrap_or_default();
        let tar = context_tar(context)?;
        let relative = dockerfile
            .strip_prefix(context)
            .unwrap_or(dockerfile)
            .to_string_lossy()
            .into_owned();
        let mut options = BuildImageOptionsBuilder::default()
            .dockerfile(&relative)
            .t(&first)
            .rm(true)
            .forcerm(true)
            .buildargs(build_args);
        if let Some(target) = target {
            options = options.target(target);
        }
        let options = options.build();
        let mut stream =
            self.docker
                .build_image(options, None, Some(bollard::body_full(tar.into())));
        while let Some(item) = stream.next().await {
            let info = item.map_err(|source| DockerError::BuildStream {
                image: first.clone(),
                source,
            })?;
            if let Some(detail) = info.error_detail {
                return Err(DockerError::Build {
                    image: first.clone(),
                    message: detail.message.unwrap_or_default(),
                });
            }
            if let Some(text) = info.stream {
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    log(line);
                }
            }
        }
        for tag in tags.iter().skip(1) {
            let (repo, name) = split_tag(tag);
            let options = TagImageOptionsBuilder::default()
                .repo(&repo)
                .tag(&name)
                .build();
            self.docker
                .tag_image(&first, Some(options))
                .await
                .map_err(engine)?;
        }
        self.image_id(&first)
            .await
            .ok_or_else(|| DockerError::Build {
                image: first,
                message: "the engine does not have the image it built".into(),
            })
    }

    /// Runs `command` in a new container of `image`, waits, returns its output; the container
    /// is always removed.
    pub async fn run_once(&self, image: &str, command: &[String]) -> Result<Finished> {
        let body = ContainerCreateBody {
            image: Some(image.to_owned()),
            cmd: Some(command.to_vec()),
            tty: Some(false),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(Some(CreateContainerOptionsBuilder::default().build()), body)
            .await
            .map_err(engine)?;
        let id = created.id;
        let result = self.run_created(&id).await;
        let _ = self
            .docker
            .remove_container(
                &id,
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

    /// Waits for the container `id` to stop and returns its exit code.
    pub(crate) async fn exit_code_of(&self, id: &str) -> Result<i64> {
        let mut exit_code = 0;
        let mut waits = self.docker.wait_container(id, None);
        while let Some(item) = waits.next().await {
            match item {
                Ok(response) => exit_code = response.status_code,
                Err(bollard::errors::Error::DockerContainerWaitError { code, .. }) => {
                    exit_code = code
                }
                Err(error) => return Err(engine(error)),
            }
        }
        Ok(exit_code)
    }

    pub(crate) async fn run_created(&self, id: &str) -> Result<Finished> {
        self.docker
            .start_container(id, None)
            .await
            .map_err(engine)?;
        let exit_code = self.exit_code_of(id).await?;
        let mut output = String::new();
        let mut logs = self.docker.logs(
            id,
            Some(
                LogsOptionsBuilder::default()
                    .stdout(true)
                    .stderr(true)
                    .build(),
            ),
        );
        while let Some(item) = logs.next().await {
            output.push_str(&item.map_err(engine)?.to_string());
        }
        Ok(Finished { exit_code, output })
    }

    /// Writes `image` as a `docker save` archive to `out`, streamed.
    pub async fn save(&self, image: &str, out: &Path) -> Result<()> {
        use tokio::io::AsyncWriteExt;
        let io = |source| DockerError::Io {
            path: out.to_path_buf(),
            source,
        };
        // Each file write is a trip to the blocking pool: gather the engine's small chunks.
        let mut file = tokio::io::BufWriter::with_capacity(
            1 << 20,
            tokio::fs::File::create(out).await.map_err(io)?,
        );
        let mut stream = self.docker.export_image(image);
        while let Some(chunk) = stream.next().await {
            file.write_all(&chunk.map_err(engine)?).await.map_err(io)?;
        }
        file.flush().await.map_err(io)
    }

    /// Loads a `docker load` archive from a file, streamed.
    pub async fn load(&self, archive: &Path) -> Result<()> {
        let file = tokio::fs::File::open(archive)
            .await
            .map_err(|source| DockerError::Io {
                path: archive.to_path_buf(),
                source,
            })?;
        // 1 MiB reads: at ReaderStream's default 4 KiB, the trips to the blocking pool that each
        // file read takes bound the load.
        let body = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20);
        let options = bollard::query_parameters::ImportImageOptionsBuilder::default()
            .quiet(true)
            .build();
        let mut stream = self.docker.import_image_stream(options, body, None);
        while let Some(item) = stream.next().await {
            let info = item.map_err(engine)?;
            if let Some(detail) = info.error_detail {
                return Err(DockerError::Engine(format!(
                    "loading {}: {}",
                    archive.display(),
                    detail.message.unwrap_or_default()
                )));
            }
        }
        Ok(())
    }

    /// Pushes `reference` (`registry/repository:tag`) through the engine.
    pub async fn push(&self, reference: &str, credential: Option<&Credential>) -> Result<()> {
        let (repository, tag) = split_tag(reference);
        let options = PushImageOptionsBuilder::default().tag(&tag).build();
        let mut stream =
            self.docker
                .push_image(&repository, Some(options), credentials(credential));
        while let Some(item) = stream.next().await {
            let info =
                item.map_err(|e| DockerError::Engine(format!("pushing {reference}: {e}")))?;
            if let Some(detail) = info.error_detail {
                return Err(DockerError::Engine(format!(
                    "pushing {reference}: {}",
                    detail.message.unwrap_or_default()
                )));
            }
        }
        Ok(())
    }
}

fn credentials(credential: Option<&Credential>) -> Option<DockerCredentials> {
    credential.map(|c| DockerCredentials {
        username: Some(c.username.clone()),
        password: Some(c.password.clone()),
        ..Default::default()
    })
}

/// `registry:5000/repo:tag` → (`registry:5000/repo`, `tag`).
fn split_tag(reference: &str) -> (String, String) {
    let last_slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[last_slash..].rsplit_once(':') {
        Some((name, tag)) => (
            format!("{}{name}", &reference[..last_slash]),
            tag.to_owned(),
        ),
        None => (reference.to_owned(), "latest".to_owned()),
    }
}

/// The build context as a tar, without what .dockerignore names.
fn context_tar(context: &Path) -> Result<Vec<u8>> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DockerError::Io { path, source }
    };
    let ignore = std::fs::read_to_string(context.join(".dockerignore")).unwrap_or_default();
    let ignored: Vec<String> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_end_matches('/').to_owned())
        .collect();
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    let mut stack = vec![context.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(io(&dir))? {
            let entry = entry.map_err(io(&dir))?;
            let path = entry.path();
            let relative = path
                .strip_prefix(context)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            if ignored
                .iter()
                .any(|p| relative == *p || relative.starts_with(&format!("{p}/")))
            {
                continue;
            }
            if entry.file_type().map_err(io(&path))?.is_dir() {
                builder.append_dir(&relative, &path).map_err(io(&path))?;
                stack.push(path);
            } else {
                builder
                    .append_path_with_name(&path, &relative)
                    .map_err(io(&path))?;
            }
        }
    }
    builder.into_inner().map_err(io(context))
}
