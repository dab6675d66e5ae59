//! One deploy per environment at a time. The lock is an OS file lock (released by the kernel
//! when its holder dies, so a killed deploy never leaves a stale lock), with a note beside it
//! naming the holder for the message the next one sees.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::{DeployError, Result};

/// The held deploy lock of one environment; dropping it releases the lock.
#[derive(Debug)]
pub struct DeployLock {
    _file: File,
    holder_path: PathBuf,
}

impl DeployLock {
    /// Takes the lock of `environment` or says who has it.
    /// The lock of `environment`, held by `started_by` running `slipway <what> <environment>`:
    /// the holder line another command's refusal shows.
    pub fn acquire_for(
        state_dir: &Path,
        environment: &str,
        started_by: &str,
        what: &str,
        now: i64,
    ) -> Result<DeployLock> {
        let holder = format!(
            "{started_by} (pid {}) running `slipway {what} {environment}` since {now}",
            std::process::id()
        );
        DeployLock::acquire(state_dir, environment, &holder)
    }

    /// Takes the lock of `environment`, recording `holder` for the refusal another deploy gets;
    /// fails with [`DeployError::Locked`] while someone else holds it.
    pub fn acquire(state_dir: &Path, environment: &str, holder: &str) -> Result<DeployLock> {
        let dir = state_dir.join("locks");
        std::fs::create_dir_all(&dir).map_err(|source| DeployError::Io {
            path: dir.clone(),
            source,
        })?;
        let path = dir.join(format!("deploy-{environment}.lock"));
        let holder_path = dir.join(format!("deploy-{environment}.holder"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| DeployError::Io {
                path: path.clone(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&holder_path)
                    .unwrap_or_else(|_| "another slipway process".into());
                return Err(DeployError::Locked {
                    environment: environment.to_owned(),
                    holder: holder.trim().to_owned(),
                });
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(DeployError::Io { path, source });
            }
        }
        let mut note = File::create(&holder_path).map_err(|source| DeployError::Io {
            path: holder_path.clone(),
            source,
        })?;
        let _ = writeln!(note, "{holder}");
        Ok(DeployLock {
            _file: file,
            holder_path,
        })
    }
}

impl Drop for DeployLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.holder_path);
    }
}

/// Whether a deploy of `environment` is running now (its lock is held).
pub fn is_held(state_dir: &Path, environment: &str) -> bool {
    let path = state_dir
        .join("locks")
        .join(format!("deploy-{environment}.lock"));
    let Ok(file) = OpenOptions::new().write(true).open(path) else {
        return false;
    };
    matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_deploy_is_told_who_holds_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let first =
            DeployLock::acquire(dir.path(), "prod", "ada@laptop (pid 41), deploy prod").unwrap();
        assert!(is_held(dir.path(), "prod"));
        match DeployLock::acquire(dir.path(), "prod", "bob") {
            Err(DeployError::Locked { holder, .. }) => {
                assert_eq!(holder, "ada@laptop (pid 41), deploy prod")
            }
            other => panic!("expected the lock to be held, got {other:?}"),
        }
        DeployLock::acquire(dir.path(), "stage", "bob").unwrap();
        drop(first);
        assert!(!is_held(dir.path(), "prod"));
        DeployLock::acquire(dir.path(), "prod", "bob").unwrap();
    }
}
