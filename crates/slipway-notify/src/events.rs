//! Building the events slipway tells channels about: their titles and facts, worded once, so a
//! run's failure reads the same whether the runner, the dashboard or another CI system's job
//! (`slipway pipeline notify`) reports it. Pure: the time is passed in.

use slipway_core::manifest::EventKind;

use crate::Event;

/// How much of a commit a fact shows.
const SHORT_COMMIT: usize = 12;

/// What is known of a pipeline run that an event is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFacts {
    /// The run's number (or the CI system's run id).
    pub run: Option<String>,
    /// The pipeline's name.
    pub pipeline: String,
    /// The full commit.
    pub commit: Option<String>,
    /// The branch, when the run is on one.
    pub branch: Option<String>,
    /// Who started the run.
    pub started_by: Option<String>,
}

impl RunFacts {
    /// The facts lines, in the order they are shown: run, pipeline, commit (short), branch,
    /// started by; the ones not known are left out.
    pub fn facts(&self) -> Vec<(String, String)> {
        let commit = self
            .commit
            .as_deref()
            .map(|c| c.get(..SHORT_COMMIT).unwrap_or(c).to_owned());
        [
            ("run", self.run.clone()),
            ("pipeline", Some(self.pipeline.clone())),
            ("commit", commit),
            ("branch", self.branch.clone()),
            ("started by", self.started_by.clone()),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name.to_owned(), value?)))
        .collect()
    }
}

/// An event of `project` with a title and facts, at `at` (RFC 3339).
pub fn event(
    project: &str,
    kind: EventKind,
    environment: Option<&str>,
    title: String,
    facts: Vec<(String, String)>,
    at: String,
) -> Event {
    Event {
        kind,
        title,
        facts,
        project: project.to_owned(),
        environment: environment.map(str::to_owned),
        at,
    }
}

/// The title of a run's event: new base images ready, the run failed, or the pipeline went
/// through.
pub fn run_title(project: &str, kind: EventKind, pipeline: &str, run: Option<&str>) -> String {
    match (kind, run) {
        (EventKind::BasePublished, _) => format!("{project}: new base images are ready"),
        (EventKind::RunFailed, Some(run)) => format!("{project}: run {run} of {pipeline} failed"),
        (EventKind::RunFailed, None) => format!("{project}: a run of {pipeline} failed"),
        _ => format!("{project}: {pipeline} pipeline went through"),
    }
}

/// What a pipeline's `notify` step, or its failure, tells the channels: `kind` is
/// [`EventKind::BasePublished`], [`EventKind::RunSucceeded`] or [`EventKind::RunFailed`];
/// a failure says why when `why` is given.
pub fn run_event(
    project: &str,
    kind: EventKind,
    run: &RunFacts,
    why: Option<&str>,
    at: String,
) -> Event {
    let mut facts = run.facts();
    if let Some(why) = why {
        facts.push(("why".to_owned(), why.to_owned()));
    }
    let title = run_title(project, kind, &run.pipeline, run.run.as_deref());
    event(project, kind, None, title, facts, at)
}

/// What a run at a gate tells the people who decide: what it waits to do, where to decide and
/// when the approval lapses (RFC 3339).
pub fn approval_waiting(
    project: &str,
    run: &RunFacts,
    environment: Option<&str>,
    decide: String,
    lapses: Option<String>,
    at: String,
) -> Event {
    let target = environment.map_or_else(|| "go on".to_owned(), |e| format!("deploy {e}"));
    let title = format!(
        "{project}: run {} of {} waits for approval to {target}",
        run.run.as_deref().unwrap_or("?"),
        run.pipeline
    );
    let mut facts = run.facts();
    facts.push(("decide".to_owned(), decide));
    if let Some(lapses) = lapses {
        facts.push(("lapses".to_owned(), lapses));
    }
    event(
        project,
        EventKind::ApprovalWaiting,
        environment,
        title,
        facts,
        at,
    )
}

/// A base image pushed by `slipway base release`.
pub fn base_published(
    project: &str,
    base: &str,
    digest: &str,
    references: &[String],
    at: String,
) -> Event {
    event(
        project,
        EventKind::BasePublished,
        None,
        format!("{project}: a new `{base}` base image is published"),
        vec![
            ("digest".to_owned(), digest.to_owned()),
            ("tags".to_owned(), references.join(", ")),
        ],
        at,
    )
}

/// A pull request slipway opened (or found open).
#[derive(Debug, Clone, Copy)]
pub struct PullRequest<'a> {
    /// Its number on the git host.
    pub number: u64,
    /// Its title.
    pub title: &'a str,
    /// Where people see it.
    pub url: &'a str,
    /// The branch it merges.
    pub branch: &'a str,
    /// The branch it merges into.
    pub into: &'a str,
    /// Whom review was asked of.
    pub reviewers: &'a [String],
}

/// A pull request opened (or found open) by `slipway pull-request`.
pub fn pull_request_opened(project: &str, pull: PullRequest<'_>, at: String) -> Event {
    let mut facts = vec![
        ("pull request".to_owned(), pull.url.to_owned()),
        ("branch".to_owned(), pull.branch.to_owned()),
        ("into".to_owned(), pull.into.to_owned()),
    ];
    if !pull.reviewers.is_empty() {
        facts.push(("reviewers".to_owned(), pull.reviewers.join(", ")));
    }
    event(
        project,
        EventKind::PullRequestOpened,
        None,
        format!(
            "{project}: review asked for #{} {}",
            pull.number, pull.title
        ),
        facts,
        at,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release_run() -> RunFacts {
        RunFacts {
            run: Some("12".into()),
            pipeline: "release".into(),
            commit: Some("0123456789abcdef0123".into()),
            branch: Some("main".into()),
            started_by: Some("push of main".into()),
        }
    }

    #[test]
    fn a_failed_run_says_which_run_failed_and_why() {
        let event = run_event(
            "shop",
            EventKind::RunFailed,
            &release_run(),
            Some("step `test stage` exited with 1"),
            "2026-11-26T09:00:00Z".into(),
        );
        assert_eq!(event.title, "shop: run 12 of release failed");
        let names: Vec<&str> = event.facts.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["run", "pipeline", "commit", "branch", "started by", "why"]
        );
        assert_eq!(event.facts[2].1, "0123456789ab");
        assert_eq!(event.project, "shop");
        assert_eq!(event.at, "2026-11-26T09:00:00Z");
    }

    #[test]
    fn a_run_known_only_by_its_pipeline_still_reads_well() {
        let run = RunFacts {
            pipeline: "release".into(),
            ..RunFacts::default()
        };
        let failed = run_event("shop", EventKind::RunFailed, &run, None, String::new());
        assert_eq!(failed.title, "shop: a run of release failed");
        assert_eq!(
            failed.facts,
            [("pipeline".to_owned(), "release".to_owned())]
        );
        let went = run_event("shop", EventKind::RunSucceeded, &run, None, String::new());
        assert_eq!(went.title, "shop: release pipeline went through");
        let base = run_event("shop", EventKind::BasePublished, &run, None, String::new());
        assert_eq!(base.title, "shop: new base images are ready");
    }

    #[test]
    fn a_gate_says_what_it_waits_for_and_when_it_lapses() {
        let event = approval_waiting(
            "shop",
            &release_run(),
            Some("prod"),
            "slipway approve 12 (or slipway reject 12)".into(),
            Some("2026-11-27T09:00:00Z".into()),
            String::new(),
        );
        assert_eq!(
            event.title,
            "shop: run 12 of release waits for approval to deploy prod"
        );
        assert_eq!(event.environment.as_deref(), Some("prod"));
        assert_eq!(event.facts.last().unwrap().0, "lapses");
        let go_on = approval_waiting(
            "shop",
            &release_run(),
            None,
            "x".into(),
            None,
            String::new(),
        );
        assert!(go_on.title.ends_with("waits for approval to go on"));
        assert_eq!(go_on.facts.last().unwrap().0, "decide");
    }

    #[test]
    fn a_published_base_names_its_digest_and_tags() {
        let event = base_published(
            "shop",
            "python",
            "sha256:ab",
            &["r/base-python:stable".into(), "r/base-python:2026".into()],
            String::new(),
        );
        assert_eq!(event.title, "shop: a new `python` base image is published");
        assert_eq!(event.facts[1].1, "r/base-python:stable, r/base-python:2026");
    }
}
