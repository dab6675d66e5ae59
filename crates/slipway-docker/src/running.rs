//! What runs of a project on the local engine: its containers as `slipway ps` lists them, and
//! the logs `slipway logs` shows.

use bollard::models::ContainerSummary;
use serde::Serialize;

use crate::environment::{LABEL_ENVIRONMENT, LABEL_NAME};
use crate::{DockerError, Engine, Result};

/// One container of a project, as `slipway ps` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerRow {
    /// Its name, without the engine's leading `/`.
    pub container: Option<String>,
    /// The environment it belongs to (its label; empty without one).
    pub environment: String,
    /// The app or service it runs (its label; empty without one).
    pub name: String,
    /// What the engine says of it (`Up 3 minutes`).
    pub status: Option<String>,
}

impl ContainerRow {
    /// The row of a container the engine listed.
    pub fn of(summary: &ContainerSummary) -> ContainerRow {
        let label = |key: &str| {
            summary
                .labels
                .as_ref()
                .and_then(|l| l.get(key))
                .cloned()
                .unwrap_or_default()
        };
        ContainerRow {
            container: summary
                .names
                .as_ref()
                .and_then(|n| n.first())
                .map(|n| n.trim_start_matches('/').to_owned()),
            environment: label(LABEL_ENVIRONMENT),
            name: label(LABEL_NAME),
            status: summary.status.clone(),
        }
    }
}

/// The containers of `project`'s environment (all environments when `environment` is None).
pub async fn containers(
    engine: &Engine,
    project: &str,
    environment: Option<&str>,
) -> Result<Vec<ContainerRow>> {
    Ok(engine
        .containers_of(project, environment)
        .await?
        .iter()
        .map(ContainerRow::of)
        .collect())
}

/// The containers whose logs are shown, as (container, label): those of the environment, or the
/// one app or service `name`; an error that says how to start them when there are none.
pub fn log_sources(
    rows: &[ContainerRow],
    environment: &str,
    name: Option<&str>,
) -> Result<Vec<(String, String)>> {
    let selected: Vec<(String, String)> = rows
        .iter()
        .filter(|row| name.is_none_or(|n| n == row.name))
        .map(|row| (row.container.clone().unwrap_or_default(), row.name.clone()))
        .collect();
    if selected.is_empty() {
        return Err(DockerError::NotRunning {
            environment: environment.to_owned(),
            name: name.map(str::to_owned),
        });
    }
    Ok(selected)
}

/// The last `tail` lines of the logs of the environment's containers (of `name` only, when
/// given; of those written since `since`, Unix seconds, when given), each line given to `line`
/// with its container's label; with `follow`, the logs as they grow, until the containers stop.
#[allow(clippy::too_many_arguments)]
pub async fn logs(
    engine: &Engine,
    project: &str,
    environment: &str,
    name: Option<&str>,
    tail: usize,
    since: Option<u64>,
    follow: bool,
    line: &mut (dyn FnMut(&str, &str) + Send),
) -> Result<()> {
    let rows = containers(engine, project, Some(environment)).await?;
    let selected = log_sources(&rows, environment, name)?;
    if follow {
        engine.follow_logs(&selected, tail, since, line).await
    } else {
        for (container, label) in &selected {
            for text in engine.logs_since(container, tail, since).await.lines() {
                line(label, text);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(name: Option<&str>, labels: &[(&str, &str)]) -> ContainerSummary {
        ContainerSummary {
            names: name.map(|n| vec![format!("/{n}")]),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            status: Some("Up 3 minutes".into()),
            ..ContainerSummary::default()
        }
    }

    #[test]
    fn a_row_reads_the_labels_and_drops_the_leading_slash() {
        let row = ContainerRow::of(&summary(
            Some("shop-dev-api"),
            &[(LABEL_ENVIRONMENT, "dev"), (LABEL_NAME, "api")],
        ));
        assert_eq!(row.container.as_deref(), Some("shop-dev-api"));
        assert_eq!(
            (row.environment.as_str(), row.name.as_str()),
            ("dev", "api")
        );
        let bare = ContainerRow::of(&summary(None, &[]));
        assert_eq!(bare.container, None);
        assert_eq!(bare.name, "");
        assert_eq!(
            serde_json::to_string(&row).unwrap(),
            r#"{"container":"shop-dev-api","environment":"dev","name":"api","status":"Up 3 minutes"}"#
        );
    }

    #[test]
    fn logs_come_from_the_named_container_or_say_how_to_start_it() {
        let rows = [
            ContainerRow::of(&summary(Some("shop-dev-api"), &[(LABEL_NAME, "api")])),
            ContainerRow::of(&summary(Some("shop-dev-db"), &[(LABEL_NAME, "db")])),
        ];
        assert_eq!(log_sources(&rows, "dev", None).unwrap().len(), 2);
        assert_eq!(
            log_sources(&rows, "dev", Some("db")).unwrap(),
            [("shop-dev-db".to_owned(), "db".to_owned())]
        );
        assert_eq!(
            log_sources(&rows, "dev", Some("web"))
                .unwrap_err()
                .to_string(),
            "nothing of `dev` is running named `web`: run `slipway up dev`"
        );
        assert_eq!(
            log_sources(&[], "dev", None).unwrap_err().to_string(),
            "nothing of `dev` is running: run `slipway up dev`"
        );
    }
}
