//! The release history: one SQLite database in the project's state dir. A release is written
//! once when a deploy starts; afterwards only its outcome, its end time and its journal (the
//! steps done so far, so an interrupted deploy can be found and undone) change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use slipway_core::manifest::StrategyKind;
use slipway_core::plan::Entry;

use crate::{History, HistoryError, Result};

/// Where a release stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Being deployed now (or interrupted: the journal tells).
    Deploying,
    /// Serving the environment's traffic.
    Live,
    /// Replaced by a later release.
    Superseded,
    /// Had traffic, then was taken back (a failed gate or analysis, or `slipway rollback`).
    RolledBack,
    /// Never got traffic.
    Failed,
}

impl Outcome {
    /// The word stored in the history and shown to people (`rolled-back`).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Deploying => "deploying",
            Outcome::Live => "live",
            Outcome::Superseded => "superseded",
            Outcome::RolledBack => "rolled-back",
            Outcome::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Outcome {
        match text {
            "live" => Outcome::Live,
            "superseded" => Outcome::Superseded,
            "rolled-back" => Outcome::RolledBack,
            "failed" => Outcome::Failed,
            _ => Outcome::Deploying,
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One app of a release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReleaseApp {
    /// What the image was deployed from: a local build or a registry reference.
    pub image: String,
    /// The image ID on the hosts (`sha256:` of its config).
    pub image_id: String,
    /// The manifest digest, when the image came from a registry or the local store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// How many containers (or tasks) of it run.
    pub replicas: u32,
    /// On ECS: the task definition revision this release registered for the app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<String>,
    /// On ECS: the service that runs it (`<service>-blue`/`-green` with two colours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The digest of what slipway.toml said about how it runs (its table, its replicas and
    /// published port, the environment's target, hooks and services), so the next deploy can
    /// tell whether anything about it changed. Releases of earlier versions have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<String>,
}

/// One deploy of an environment, as the history keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Release {
    /// Its number, unique across environments (`r7` is 7).
    pub id: i64,
    /// The environment it was deployed to.
    pub environment: String,
    /// Its apps by name.
    pub apps: BTreeMap<String, ReleaseApp>,
    /// The digest of the rendered configuration it was deployed with.
    pub config_digest: String,
    /// The strategy it was rolled out with (`blue-green`).
    pub strategy: StrategyKind,
    /// `user@host` of who deployed it.
    pub started_by: String,
    /// Unix seconds.
    pub started_at: i64,
    /// Unix seconds, once it ended (went live, failed or was rolled back).
    pub finished_at: Option<i64>,
    /// Where it stands.
    pub outcome: Outcome,
    /// Why it ended as it did, e.g. the failed gate.
    pub note: Option<String>,
    /// What the deploy did, in order: the steps of its plan carried out, apps carried over
    /// from earlier releases, hooks run.
    pub journal: Vec<Entry>,
}

impl Release {
    /// `r7`: the name in container names, labels and the proxy's table.
    pub fn name(&self) -> String {
        release_name(self.id)
    }
}

/// `r7` for release 7.
pub fn release_name(id: i64) -> String {
    format!("r{id}")
}

/// A new release before it has an id.
#[derive(Debug, Clone)]
pub struct NewRelease {
    /// The environment it is deployed to.
    pub environment: String,
    /// Its apps by name.
    pub apps: BTreeMap<String, ReleaseApp>,
    /// The digest of the rendered configuration.
    pub config_digest: String,
    /// The strategy it is rolled out with.
    pub strategy: StrategyKind,
    /// `user@host` of who deploys it.
    pub started_by: String,
}

/// The release history's file in a project's state dir.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("releases.db")
}

/// The release history (`releases.db`), shared by every process of the project.
#[derive(Debug)]
pub struct ReleaseStore {
    connection: std::sync::Mutex<Connection>,
}

/// The name the deploy crate knows the release store by.
pub type Store = ReleaseStore;

fn db(source: rusqlite::Error) -> HistoryError {
    HistoryError::Database {
        history: History::Releases,
        source,
    }
}

const COLUMNS: &str = "id, environment, apps, config_digest, strategy, started_by, started_at, finished_at, outcome, note, journal";

impl ReleaseStore {
    /// Opens (creating when missing) the history at `path`, readable by this account only.
    pub fn open(path: &Path) -> Result<ReleaseStore> {
        // The release history is for the account running slipway only.
        slipway_core::private::private_database(path).map_err(|source| HistoryError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::initialise(Connection::open(path).map_err(db)?)
    }

    /// A history that lives in memory and ends with the value: for tests of code that records
    /// releases.
    pub fn open_in_memory() -> Result<ReleaseStore> {
        Self::initialise(Connection::open_in_memory().map_err(db)?)
    }

    fn initialise(connection: Connection) -> Result<ReleaseStore> {
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA busy_timeout = 5000;
                 CREATE TABLE IF NOT EXISTS releases (
                   id INTEGER PRIMARY KEY AUTOINCREMENT,
                   environment TEXT NOT NULL,
                   apps TEXT NOT NULL,
                   config_digest TEXT NOT NULL,
                   strategy TEXT NOT NULL,
                   started_by TEXT NOT NULL,
                   started_at INTEGER NOT NULL,
                   finished_at INTEGER,
                   outcome TEXT NOT NULL,
                   note TEXT,
                   journal TEXT NOT NULL DEFAULT '[]'
                 );
                 CREATE INDEX IF NOT EXISTS releases_by_environment ON releases (environment, id);",
            )
            .map_err(db)?;
        Ok(ReleaseStore {
            connection: std::sync::Mutex::new(connection),
        })
    }

    fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.connection.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a release that starts now (`now`, Unix seconds), `deploying`, with the next id.
    pub fn begin(&self, new: &NewRelease, now: i64) -> Result<Release> {
        let apps = serde_json::to_string(&new.apps).expect("apps serialize");
        self.connection()
            .execute(
                "INSERT INTO releases (environment, apps, config_digest, strategy, started_by, started_at, outcome)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'deploying')",
                params![new.environment, apps, new.config_digest, new.strategy.name(), new.started_by, now],
            )
            .map_err(db)?;
        let id = self.connection().last_insert_rowid();
        self.get(id)?.ok_or_else(|| HistoryError::Record {
            history: History::Releases,
            message: format!("release {id} vanished"),
        })
    }

    /// Records what a deploy did, so an interruption can be undone or resumed.
    pub fn journal(&self, id: i64, entry: &Entry) -> Result<()> {
        let mut release = self.get(id)?.ok_or_else(|| HistoryError::Record {
            history: History::Releases,
            message: format!("no release {id}"),
        })?;
        release.journal.push(entry.clone());
        self.connection()
            .execute(
                "UPDATE releases SET journal = ?1 WHERE id = ?2",
                params![
                    serde_json::to_string(&release.journal).expect("entries serialize"),
                    id
                ],
            )
            .map_err(db)?;
        Ok(())
    }

    /// Records what a deploy learned about its apps after it began (ECS task definition ARNs).
    pub fn record_apps(&self, id: i64, apps: &BTreeMap<String, ReleaseApp>) -> Result<()> {
        let apps = serde_json::to_string(apps).expect("apps serialize");
        self.connection()
            .execute(
                "UPDATE releases SET apps = ?1 WHERE id = ?2",
                params![apps, id],
            )
            .map_err(db)?;
        Ok(())
    }

    /// Records how a release ended (keeping an earlier note when `note` is `None`).
    pub fn finish(&self, id: i64, outcome: Outcome, note: Option<&str>, now: i64) -> Result<()> {
        self.connection()
            .execute(
                "UPDATE releases SET outcome = ?1, note = COALESCE(?2, note), finished_at = ?3 WHERE id = ?4",
                params![outcome.as_str(), note, now, id],
            )
            .map_err(db)?;
        Ok(())
    }

    /// Marks `id` live and whatever else was live in its environment superseded, in one transaction.
    pub fn make_live(&self, id: i64, now: i64) -> Result<()> {
        let mut connection = self.connection();
        let transaction = connection.transaction().map_err(db)?;
        transaction
            .execute(
                "UPDATE releases SET outcome = 'superseded'
                 WHERE outcome = 'live' AND id != ?1
                   AND environment = (SELECT environment FROM releases WHERE id = ?1)",
                params![id],
            )
            .map_err(db)?;
        transaction
            .execute(
                "UPDATE releases SET outcome = 'live', finished_at = COALESCE(finished_at, ?2) WHERE id = ?1",
                params![id, now],
            )
            .map_err(db)?;
        transaction.commit().map_err(db)
    }

    /// The release with this id.
    pub fn get(&self, id: i64) -> Result<Option<Release>> {
        self.connection()
            .query_row(
                &format!("SELECT {COLUMNS} FROM releases WHERE id = ?1"),
                params![id],
                row,
            )
            .optional()
            .map_err(db)
    }

    /// The environment's last `limit` releases, newest first.
    pub fn list(&self, environment: &str, limit: usize) -> Result<Vec<Release>> {
        let connection = self.connection();
        let mut statement = connection
            .prepare(&format!(
                "SELECT {COLUMNS} FROM releases WHERE environment = ?1 ORDER BY id DESC LIMIT ?2"
            ))
            .map_err(db)?;
        let rows = statement
            .query_map(params![environment, limit as i64], row)
            .map_err(db)?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(db)
    }

    /// The id the next release (of any environment) will most likely get: a label for what a
    /// deploy would do, never a promise.
    pub fn next_id(&self) -> Result<i64> {
        self.connection()
            .query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM releases", [], |row| {
                row.get(0)
            })
            .map_err(db)
    }

    /// The environment's live release.
    pub fn live(&self, environment: &str) -> Result<Option<Release>> {
        Ok(self
            .list(environment, usize::MAX >> 1)?
            .into_iter()
            .find(|r| r.outcome == Outcome::Live))
    }

    /// `(live, target)` of a rollback in `environment`: `to`, or the release live before the
    /// current one. An error names what is wrong: nothing live, no such release, one that
    /// never went live.
    pub fn rollback_target(
        &self,
        environment: &str,
        to: Option<i64>,
    ) -> Result<(Release, Release)> {
        let current = self
            .live(environment)?
            .ok_or_else(|| HistoryError::NothingLive {
                environment: environment.to_owned(),
            })?;
        let history = self.list(environment, 1000)?;
        let target = match to {
            Some(id) => history
                .iter()
                .find(|r| r.id == id)
                .cloned()
                .ok_or_else(|| HistoryError::UnknownRelease {
                    environment: environment.to_owned(),
                    release: release_name(id),
                })?,
            None => history
                .iter()
                .find(|r| r.id < current.id && r.outcome == Outcome::Superseded)
                .cloned()
                .ok_or_else(|| HistoryError::NothingEarlier {
                    environment: environment.to_owned(),
                })?,
        };
        if target.id == current.id {
            return Err(HistoryError::AlreadyLive {
                release: target.name(),
            });
        }
        if matches!(target.outcome, Outcome::Failed | Outcome::Deploying) {
            return Err(HistoryError::NeverLive {
                release: target.name(),
                outcome: target.outcome,
            });
        }
        Ok((current, target))
    }

    /// The environment's releases still `deploying`: running now, or interrupted.
    pub fn unfinished(&self, environment: &str) -> Result<Vec<Release>> {
        Ok(self
            .list(environment, usize::MAX >> 1)?
            .into_iter()
            .filter(|r| r.outcome == Outcome::Deploying)
            .collect())
    }
}

fn row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Release> {
    let apps: String = row.get(2)?;
    let journal: String = row.get(10)?;
    let outcome: String = row.get(8)?;
    let strategy: String = row.get(4)?;
    Ok(Release {
        id: row.get(0)?,
        environment: row.get(1)?,
        apps: serde_json::from_str(&apps).unwrap_or_default(),
        config_digest: row.get(3)?,
        // Every release names one of the kinds; rolling was the default.
        strategy: strategy.parse().unwrap_or(StrategyKind::Rolling),
        started_by: row.get(5)?,
        started_at: row.get(6)?,
        finished_at: row.get(7)?,
        outcome: Outcome::parse(&outcome),
        note: row.get(9)?,
        // Journals of earlier versions hold text lines; they are read as notes.
        journal: slipway_core::plan::read_journal(&journal),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(environment: &str) -> NewRelease {
        NewRelease {
            environment: environment.into(),
            apps: BTreeMap::from([(
                "api".to_owned(),
                ReleaseApp {
                    image: "shop/api:latest".into(),
                    image_id: "sha256:aa".into(),
                    digest: None,
                    replicas: 2,
                    task_definition: None,
                    service: None,
                    settings: None,
                },
            )]),
            config_digest: "sha256:cc".into(),
            strategy: StrategyKind::BlueGreen,
            started_by: "ada@laptop".into(),
        }
    }

    #[test]
    fn one_release_is_live_per_environment_and_history_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = ReleaseStore::open(&dir.path().join("releases.db")).unwrap();
        let first = store.begin(&new("prod"), 100).unwrap();
        store.make_live(first.id, 110).unwrap();
        let other = store.begin(&new("stage"), 115).unwrap();
        store.make_live(other.id, 116).unwrap();
        let second = store.begin(&new("prod"), 120).unwrap();
        let carried = Entry::Carried {
            app: "worker".into(),
            from: "r1".into(),
        };
        store.journal(second.id, &carried).unwrap();
        assert_eq!(store.unfinished("prod").unwrap()[0].journal, vec![carried]);
        store.make_live(second.id, 130).unwrap();

        let history = store.list("prod", 10).unwrap();
        assert_eq!(
            history
                .iter()
                .map(|r| (r.id, r.outcome))
                .collect::<Vec<_>>(),
            vec![(second.id, Outcome::Live), (first.id, Outcome::Superseded)]
        );
        assert_eq!(store.live("stage").unwrap().unwrap().id, other.id);
        assert_eq!(history[0].apps["api"].replicas, 2);
        assert!(store.unfinished("prod").unwrap().is_empty());

        let failed = store.begin(&new("prod"), 140).unwrap();
        store
            .finish(failed.id, Outcome::Failed, Some("gate"), 150)
            .unwrap();
        drop(store);
        let reopened = ReleaseStore::open(&dir.path().join("releases.db")).unwrap();
        assert_eq!(reopened.live("prod").unwrap().unwrap().id, second.id);
        let failed = reopened.get(failed.id).unwrap().unwrap();
        assert_eq!(
            (failed.outcome, failed.note.as_deref(), failed.finished_at),
            (Outcome::Failed, Some("gate"), Some(150))
        );
    }

    #[test]
    fn a_rollback_goes_to_the_release_live_before_and_names_what_is_wrong() {
        let store = ReleaseStore::open_in_memory().unwrap();
        assert!(matches!(
            store.rollback_target("prod", None),
            Err(HistoryError::NothingLive { environment }) if environment == "prod"
        ));
        let first = store.begin(&new("prod"), 100).unwrap();
        store.make_live(first.id, 110).unwrap();
        let error = store.rollback_target("prod", None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "environment `prod` has no earlier release to roll back to"
        );
        let failed = store.begin(&new("prod"), 120).unwrap();
        store
            .finish(failed.id, Outcome::Failed, Some("gate"), 130)
            .unwrap();
        let second = store.begin(&new("prod"), 140).unwrap();
        store.make_live(second.id, 150).unwrap();

        let (live, target) = store.rollback_target("prod", None).unwrap();
        assert_eq!((live.id, target.id), (second.id, first.id));
        assert_eq!(
            store
                .rollback_target("prod", Some(failed.id))
                .unwrap_err()
                .to_string(),
            format!(
                "r{} never went live (failed); roll back to a release that did",
                failed.id
            )
        );
        assert!(matches!(
            store.rollback_target("prod", Some(second.id)),
            Err(HistoryError::AlreadyLive { release }) if release == second.name()
        ));
        assert_eq!(
            store
                .rollback_target("prod", Some(99))
                .unwrap_err()
                .to_string(),
            "no release r99 in environment `prod`; `slipway releases prod` lists them"
        );
        // Another environment's release is not a target.
        let stage = store.begin(&new("stage"), 160).unwrap();
        store.make_live(stage.id, 170).unwrap();
        assert!(matches!(
            store.rollback_target("prod", Some(stage.id)),
            Err(HistoryError::UnknownRelease { .. })
        ));
    }

    #[test]
    fn the_history_file_is_private_to_the_account() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = path(&dir.path().join("state"));
        ReleaseStore::open(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn releases_written_by_an_earlier_version_are_read_with_their_journal() {
        let dir = tempfile::tempdir().unwrap();
        let store = ReleaseStore::open(&dir.path().join("releases.db")).unwrap();
        // A release as an earlier slipway wrote it: the journal in text lines.
        store
            .connection()
            .execute(
                "INSERT INTO releases (environment, apps, config_digest, strategy, started_by, started_at, outcome, journal)
                 VALUES ('prod', '{}', 'sha256:cc', 'canary', 'ada@laptop', 100, 'deploying', ?1)",
                params![r#"["carried worker from r3","started local:shop-prod-api-r4-1","traffic local:api r3 50 r4 50"]"#],
            )
            .unwrap();
        let old = store.unfinished("prod").unwrap().remove(0);
        assert_eq!(old.strategy, StrategyKind::Canary);
        assert_eq!(
            slipway_core::plan::carried_from(&old.journal, "worker"),
            Some("r3")
        );
        assert!(
            old.journal.iter().any(Entry::moved_traffic),
            "{:?}",
            old.journal
        );
        // Resumed by this version: the new entries are added to the old ones.
        store.journal(old.id, &Entry::Resumed).unwrap();
        let resumed = store.get(old.id).unwrap().unwrap();
        assert_eq!(resumed.journal.len(), 4);
        assert_eq!(resumed.journal[..3], old.journal[..]);
        assert_eq!(resumed.journal[3], Entry::Resumed);
    }
}
