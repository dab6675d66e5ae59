//! The files around `slipway ecs import`: the task definition and service JSON files it is
//! given (directories read in name order), and what [`crate::import::merge`] made, written into
//! the project all together or not at all.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::import::{Imported, Merged};
use crate::{AwsError, Result};

/// `(file, JSON)` of each file among `paths`, and of each `.json` file in the directories
/// among them (sorted by name).
pub fn read_json(paths: &[PathBuf]) -> Result<Vec<(String, Value)>> {
    let reading = |path: &Path| {
        let path = path.to_path_buf();
        move |source| AwsError::File {
            action: "reading",
            path,
            source,
        }
    };
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(reading(path))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect();
            inside.sort();
            files.extend(inside);
        } else {
            files.push(path.clone());
        }
    }
    files
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(&file).map_err(reading(&file))?;
            let json = serde_json::from_str(&text).map_err(|e| {
                AwsError::Plan(format!(
                    "{}:{}:{}: not JSON: {e}",
                    file.display(),
                    e.line(),
                    e.column()
                ))
            })?;
            Ok((file.display().to_string(), json))
        })
        .collect()
}

/// Everything a person should know of an import: what the files and the merge could not
/// carry over, and each template that already `exists` (relative to the project) and now
/// holds what the task definition sets.
pub fn notes(
    imported: &Imported,
    merged: &Merged,
    environment: &str,
    exists: &dyn Fn(&str) -> bool,
) -> Vec<String> {
    let mut notes = imported.notes.clone();
    notes.extend(merged.notes.iter().cloned());
    for path in merged.templates.keys() {
        if exists(path) {
            notes.push(format!(
                "{path} now holds the task definition's environment (what {environment} runs)"
            ));
        }
    }
    notes
}

/// Writes the merged templates and slipway.toml into the project at `root`: each is staged
/// beside its place first (never through a link planted at the staging name), then all are
/// renamed into place; a failure while staging takes back what was staged.
pub fn write(root: &Path, merged: &Merged) -> Result<()> {
    let writing = |path: &Path| {
        let path = path.to_path_buf();
        move |source| AwsError::File {
            action: "writing",
            path,
            source,
        }
    };
    let mut staged: Vec<(PathBuf, PathBuf)> = Vec::new();
    for (path, text) in merged
        .templates
        .iter()
        .map(|(p, t)| (root.join(p), t.as_str()))
        .chain(std::iter::once((
            root.join("slipway.toml"),
            merged.manifest.as_str(),
        )))
    {
        let parent = path.parent().expect("a file in the project");
        std::fs::create_dir_all(parent).map_err(|source| AwsError::File {
            action: "creating",
            path: parent.to_path_buf(),
            source,
        })?;
        let temporary = parent.join(format!(
            ".{}.slipway-import",
            path.file_name().expect("a file name").to_string_lossy()
        ));
        if let Err(error) = slipway_core::files::write_atomic(
            &temporary,
            slipway_core::files::SHARED,
            text.as_bytes(),
        ) {
            for (written, _) in &staged {
                let _ = std::fs::remove_file(written);
            }
            return Err(writing(&path)(error));
        }
        staged.push((temporary, path));
    }
    for (temporary, path) in &staged {
        std::fs::rename(temporary, path).map_err(writing(path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn merged() -> Merged {
        Merged {
            manifest: "schema = 1\n".into(),
            templates: BTreeMap::from([
                ("config/prod/api.env.j2".to_owned(), "A=1\n".to_owned()),
                ("config/prod/web.env.j2".to_owned(), "B=2\n".to_owned()),
            ]),
            notes: vec!["from the merge".into()],
        }
    }

    #[test]
    fn notes_name_the_templates_that_are_replaced() {
        let imported = Imported {
            notes: vec!["from the files".into()],
            ..Imported::default()
        };
        let notes = notes(&imported, &merged(), "prod", &|path| {
            path == "config/prod/web.env.j2"
        });
        assert_eq!(
            notes,
            [
                "from the files",
                "from the merge",
                "config/prod/web.env.j2 now holds the task definition's environment (what prod runs)"
            ]
        );
    }

    #[test]
    fn json_files_are_read_from_directories_in_order_and_bad_ones_are_located() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.json"), r#"{"b": 1}"#).unwrap();
        std::fs::write(dir.path().join("a.json"), r#"{"a": 1}"#).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not read").unwrap();
        let read = read_json(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<&str> = read
            .iter()
            .map(|(f, _)| f.rsplit('/').next().unwrap())
            .collect();
        assert_eq!(names, ["a.json", "b.json"]);
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{\n  oops").unwrap();
        let error = read_json(std::slice::from_ref(&bad))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(&format!("{}:2:3: not JSON: ", bad.display())),
            "{error}"
        );
        let missing = read_json(&[dir.path().join("missing.json")]).unwrap_err();
        assert!(missing.to_string().starts_with("reading "), "{missing}");
    }

    #[test]
    fn a_project_gets_every_file_or_none() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &merged()).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("slipway.toml")).unwrap(),
            "schema = 1\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("config/prod/web.env.j2")).unwrap(),
            "B=2\n"
        );
        // `config` is a file, so no template can be staged under it: nothing is written.
        let other = tempfile::tempdir().unwrap();
        std::fs::write(other.path().join("config"), "in the way").unwrap();
        let error = write(other.path(), &merged()).unwrap_err();
        assert!(error.to_string().starts_with("creating "), "{error}");
        assert!(!other.path().join("slipway.toml").exists());
    }
}
