//! What a pipeline of slipway.toml means, without running it: the steps it plans (`steps`) and
//! the environment each step's process is given (`environment`). The runner carries these out;
//! the CI exporter writes them as another system's files; both read the same decisions here.

pub mod environment;
pub mod steps;

/// A pipeline that slipway.toml does not define, or a step it cannot plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// No pipeline of that name; `hint` lists the ones there are, or how to add one.
    #[error("no pipeline `{name}` in slipway.toml{hint}")]
    UnknownPipeline {
        /// The name asked for.
        name: String,
        /// Text that follows the message: the pipelines there are, or how to add one.
        hint: String,
    },
    /// A step that is neither a built-in nor a `run` step.
    #[error("step {step}: {message}")]
    Step {
        /// The step as written.
        step: String,
        /// What is wrong with it and what to do.
        message: String,
    },
}
