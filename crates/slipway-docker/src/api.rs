//! The engine calls the base-image pipeline makes, behind one trait: [`ImageEngine`], carried out
//! by the real [`Engine`] (bollard) and, in unit tests, by [`RecordingEngine`], which answers
//! from a script and records every call, so the pipeline's decisions (what is pulled through
//! the mirror, what is built under which names, which tests run and when it stops) are tested
//! without a Docker Engine.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use slipway_oci::credentials::Credential;

use crate::{DockerError, Engine, Finished, Result};

/// The image calls of a Docker Engine: what it holds, pulling, building, one-off containers and
/// pushing.
pub trait ImageEngine: Sync {
    /// Whether the engine holds an image by this name.
    fn has_image(&self, reference: &str) -> impl Future<Output = bool> + Send;

    /// Pulls `from` and tags it `as_name` (an official image resolved through a mirror).
    fn pull_as(
        &self,
        from: &str,
        as_name: &str,
        credential: Option<&Credential>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Builds `dockerfile` in `context`, tags the result with every name of `tags`, and returns
    /// its image id; build output goes to `log` line by line.
    fn build(
        &self,
        context: &Path,
        dockerfile: &Path,
        tags: &[String],
        build_args: &HashMap<String, String>,
        log: &mut (dyn FnMut(&str) + Send),
    ) -> impl Future<Output = Result<String>> + Send;

    /// Runs `command` in a new container of `image` and waits for it.
    fn run_once(
        &self,
        image: &str,
        command: &[String],
    ) -> impl Future<Output = Result<Finished>> + Send;

    /// Pushes `reference` to its registry.
    fn push(
        &self,
        reference: &str,
        credential: Option<&Credential>,
    ) -> impl Future<Output = Result<()>> + Send;
}

impl ImageEngine for Engine {
    fn has_image(&self, reference: &str) -> impl Future<Output = bool> + Send {
        Engine::has_image(self, reference)
    }

    fn pull_as(
        &self,
        from: &str,
        as_name: &str,
        credential: Option<&Credential>,
    ) -> impl Future<Output = Result<()>> + Send {
        Engine::pull_as(self, from, as_name, credential)
    }

    fn build(
        &self,
        context: &Path,
        dockerfile: &Path,
        tags: &[String],
        build_args: &HashMap<String, String>,
        log: &mut (dyn FnMut(&str) + Send),
    ) -> impl Future<Output = Result<String>> + Send {
        Engine::build(self, context, dockerfile, tags, build_args, log)
    }

    fn run_once(
        &self,
        image: &str,
        command: &[String],
    ) -> impl Future<Output = Result<Finished>> + Send {
        Engine::run_once(self, image, command)
    }

    fn push(
        &self,
        reference: &str,
        credential: Option<&Credential>,
    ) -> impl Future<Output = Result<()>> + Send {
        Engine::push(self, reference, credential)
    }
}

/// One call a [`RecordingEngine`] received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineCall {
    /// [`ImageEngine::pull_as`]: what was pulled, under which name.
    PullAs {
        /// The reference pulled (the mirror's).
        from: String,
        /// The name it was tagged with.
        as_name: String,
    },
    /// [`ImageEngine::build`].
    Build {
        /// The build context.
        context: PathBuf,
        /// The Dockerfile.
        dockerfile: PathBuf,
        /// The names the image was given.
        tags: Vec<String>,
        /// The build arguments, sorted.
        build_args: BTreeMap<String, String>,
    },
    /// [`ImageEngine::run_once`].
    RunOnce {
        /// The image the container ran.
        image: String,
        /// Its command.
        command: Vec<String>,
    },
    /// [`ImageEngine::push`].
    Push {
        /// The reference pushed.
        reference: String,
    },
}

/// A recording double of the engine for unit tests: it holds the images it is told of (and
/// those it pulls or builds), answers each one-off container from a script, and keeps every
/// call. Clones share the recording.
#[derive(Debug, Clone, Default)]
pub struct RecordingEngine {
    state: Arc<Mutex<Recorded>>,
}

#[derive(Debug, Default)]
struct Recorded {
    images: BTreeSet<String>,
    runs: BTreeMap<Vec<String>, Finished>,
    build_failure: Option<String>,
    calls: Vec<EngineCall>,
}

impl RecordingEngine {
    /// An engine holding no image, whose containers all exit 0 without output.
    pub fn new() -> RecordingEngine {
        RecordingEngine::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The engine holds `reference` already.
    pub fn with_image(self, reference: &str) -> Self {
        self.state().images.insert(reference.to_owned());
        self
    }

    /// A container running `command` ends with `exit_code` after printing `output`.
    pub fn with_run(self, command: &[&str], exit_code: i64, output: &str) -> Self {
        self.state().runs.insert(
            command.iter().map(|word| (*word).to_owned()).collect(),
            Finished {
                exit_code,
                output: output.to_owned(),
            },
        );
        self
    }

    /// Builds fail with `message`, as a Dockerfile step that fails would.
    pub fn with_failing_build(self, message: &str) -> Self {
        self.state().build_failure = Some(message.to_owned());
        self
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<EngineCall> {
        self.state().calls.clone()
    }
}

impl ImageEngine for RecordingEngine {
    fn has_image(&self, reference: &str) -> impl Future<Output = bool> + Send {
        let held = self.state().images.contains(reference);
        async move { held }
    }

    fn pull_as(
        &self,
        from: &str,
        as_name: &str,
        _credential: Option<&Credential>,
    ) -> impl Future<Output = Result<()>> + Send {
        let mut state = self.state();
        state.calls.push(EngineCall::PullAs {
            from: from.to_owned(),
            as_name: as_name.to_owned(),
        });
        state.images.insert(as_name.to_owned());
        async { Ok(()) }
    }

    fn build(
        &self,
        context: &Path,
        dockerfile: &Path,
        tags: &[String],
        build_args: &HashMap<String, String>,
        log: &mut (dyn FnMut(&str) + Send),
    ) -> impl Future<Output = Result<String>> + Send {
        let mut state = self.state();
        state.calls.push(EngineCall::Build {
            context: context.to_path_buf(),
            dockerfile: dockerfile.to_path_buf(),
            tags: tags.to_vec(),
            build_args: build_args
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        });
        let answer = match &state.build_failure {
            Some(message) => Err(DockerError::Build {
                image: tags.first().cloned().unwrap_or_default(),
                message: message.clone(),
            }),
            None => {
                log("Step 1/1 : built by the recording engine");
                state.images.extend(tags.iter().cloned());
                Ok(format!("sha256:{:064x}", state.calls.len()))
            }
        };
        async move { answer }
    }

    fn run_once(
        &self,
        image: &str,
        command: &[String],
    ) -> impl Future<Output = Result<Finished>> + Send {
        let mut state = self.state();
        state.calls.push(EngineCall::RunOnce {
            image: image.to_owned(),
            command: command.to_vec(),
        });
        let answer = if state.images.contains(image) {
            Ok(state.runs.get(command).cloned().unwrap_or(Finished {
                exit_code: 0,
                output: String::new(),
            }))
        } else {
            Err(DockerError::Engine(format!("No such image: {image}")))
        };
        async move { answer }
    }

    fn push(
        &self,
        reference: &str,
        _credential: Option<&Credential>,
    ) -> impl Future<Output = Result<()>> + Send {
        self.state().calls.push(EngineCall::Push {
            reference: reference.to_owned(),
        });
        async { Ok(()) }
    }
}
