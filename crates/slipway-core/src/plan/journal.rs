//! The release journal: what a deploy has done so far, entry by entry, as typed data. An
//! interrupted deploy is undone or resumed from it, and a failed one is `rolled-back` rather
//! than `failed` when it shows traffic moved.

use serde::{Deserialize, Serialize};

use super::Step;

/// One entry of a release's journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "entry", rename_all = "kebab-case")]
pub enum Entry {
    /// A step of the plan, carried out.
    Done {
        /// The step.
        step: Step,
    },
    /// An app the deploy left out keeps the replicas of an earlier release.
    Carried {
        /// The app.
        app: String,
        /// The release whose replicas serve it.
        from: String,
    },
    /// A task definition revision registered for an app (ECS).
    Registered {
        /// The app.
        app: String,
        /// The revision's ARN.
        task_definition: String,
    },
    /// A hook ran.
    Hook {
        /// `before_deploy` or `after_deploy`.
        when: String,
        /// The command.
        command: String,
        /// Its exit code.
        exit: i64,
    },
    /// The deploy was resumed after an interruption.
    Resumed,
    /// An entry written by an earlier version of slipway, as text.
    Note {
        /// The text.
        text: String,
        /// Whether it recorded traffic moving to the release.
        traffic: bool,
    },
}

impl Entry {
    /// An entry of an earlier journal, where each entry was a line of text (`started host:name`,
    /// `traffic host:app r2 100`, `carried app from r1`, `weighted app 10`...).
    pub fn from_text(text: &str) -> Entry {
        if let Some(rest) = text.strip_prefix("carried ")
            && let Some((app, from)) = rest.split_once(" from ")
        {
            return Entry::Carried {
                app: app.to_owned(),
                from: from.to_owned(),
            };
        }
        Entry::Note {
            text: text.to_owned(),
            traffic: ["traffic ", "weighted ", "switched ", "updated "]
                .iter()
                .any(|prefix| text.starts_with(prefix)),
        }
    }

    /// Whether this entry moved traffic to the release.
    pub fn moved_traffic(&self) -> bool {
        match self {
            Entry::Done { step } => step.moves_traffic(),
            Entry::Note { traffic, .. } => *traffic,
            _ => false,
        }
    }
}

/// Reads a journal as stored: a JSON array whose items are entries, or the text lines of an
/// earlier version (both may appear in one journal of a release resumed by a newer slipway).
pub fn read(json: &str) -> Vec<Entry> {
    let Ok(items) = serde_json::from_str::<Vec<serde_json::Value>>(json) else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|item| match item {
            serde_json::Value::String(text) => Some(Entry::from_text(&text)),
            other => serde_json::from_value(other).ok(),
        })
        .collect()
}

/// The release whose replicas serve `app` in a release with this journal: the one it was
/// carried from, or none (the release's own).
pub fn carried_from<'a>(journal: &'a [Entry], app: &str) -> Option<&'a str> {
    journal.iter().find_map(|entry| match entry {
        Entry::Carried { app: a, from } if a == app => Some(from.as_str()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Replicas, Share};

    #[test]
    fn journals_of_earlier_versions_are_still_read() {
        let old = r#"["carried worker from r3","started local:shop-prod-api-r4-1","traffic local:api r3 50 r4 50","before_deploy hook bin/migrate: exit 0"]"#;
        let journal = read(old);
        assert_eq!(carried_from(&journal, "worker"), Some("r3"));
        assert_eq!(carried_from(&journal, "api"), None);
        assert_eq!(
            journal.iter().filter(|e| e.moved_traffic()).count(),
            1,
            "{journal:?}"
        );
        for ecs in [
            "weighted api 10",
            "switched api",
            "updated api shop-prod-api",
        ] {
            assert!(Entry::from_text(ecs).moved_traffic(), "{ecs}");
        }
        assert!(!Entry::from_text("registered api arn:1").moved_traffic());
    }

    #[test]
    fn entries_round_trip_and_mix_with_old_ones() {
        let entries = [
            Entry::Carried {
                app: "worker".into(),
                from: "r3".into(),
            },
            Entry::Done {
                step: Step::SetWeights {
                    place: "local".into(),
                    app: "api".into(),
                    split: vec![Share {
                        release: "r4".into(),
                        weight: 100,
                        replicas: Replicas::first(2),
                    }],
                },
            },
            Entry::Resumed,
        ];
        let mut items: Vec<serde_json::Value> = entries
            .iter()
            .map(|e| serde_json::to_value(e).unwrap())
            .collect();
        items.insert(0, "started local:shop-prod-api-r4-1".into());
        let journal = read(&serde_json::to_string(&items).unwrap());
        assert_eq!(&journal[1..], &entries[..]);
        assert!(journal[2].moved_traffic());
        assert_eq!(carried_from(&journal, "worker"), Some("r3"));
    }
}
