//! The state directory and the databases in it hold run logs, approvals and release history:
//! only the account running slipway may read them.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Creates `dir` (and any missing parents) and makes it 0700.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    std::fs::set_permissions(dir, Permissions::from_mode(0o700))
}

/// Prepares the SQLite database `path` to be opened: its directory 0700, the database created
/// empty with mode 0600 when missing (SQLite gives its `-wal`, `-shm` and `-journal` files the
/// database's mode), and an existing database and companions made 0600.
pub fn private_database(path: &Path) -> io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        private_dir(parent)?;
    }
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => {}
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
        Err(error) => return Err(error),
    }
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = PathBuf::from(name);
        match std::fs::set_permissions(&file, Permissions::from_mode(0o600)) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_database_and_its_directory_are_the_owners_only() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        std::fs::set_permissions(&state, Permissions::from_mode(0o755)).unwrap();
        let db = state.join("runs.db");
        std::fs::write(state.join("runs.db-wal"), b"").unwrap();
        std::fs::set_permissions(state.join("runs.db-wal"), Permissions::from_mode(0o644)).unwrap();
        private_database(&db).unwrap();
        assert_eq!(mode(&state), 0o700);
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&state.join("runs.db-wal")), 0o600);
        private_database(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
    }
}
