//! Writing a file whole or not at all. Every file slipway writes for a user or for itself (env
//! files, state, lock and project files) goes through [`write_atomic`]: a new temporary file
//! beside the target, under a random name, created exclusively and without following a
//! symbolic link (so a link planted under a predictable name is never written through), mode
//! 0600 while it is filled, flushed to disk, given its final mode and renamed over the target.
//! Any failure on the way removes the temporary file: a full disk leaves the previous file (or
//! none), never a half-written or empty one.

use std::fs::{File, OpenOptions, Permissions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Mode of files that hold secrets or private state.
pub const PRIVATE: u32 = 0o600;
/// Mode of project files people read and commit (slipway.toml, slipway.lock, workflows).
pub const SHARED: u32 = 0o644;

/// Writes `bytes` to `path` atomically with `mode`.
pub fn write_atomic(path: &Path, mode: u32, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, mode, |file| file.write_all(bytes))
}

/// Like [`write_atomic`], the content written by `fill` (a copy, a stream).
pub fn write_atomic_with(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    let (temporary, mut file) = create_temporary(path)?;
    let cleanup = RemoveOnDrop(Some(temporary));
    fill(&mut file)?;
    if mode != PRIVATE {
        file.set_permissions(Permissions::from_mode(mode))?;
    }
    // On a filesystem that allocates late, a full disk shows here rather than in `write`.
    file.sync_all()?;
    drop(file);
    let temporary = cleanup.0.as_deref().expect("set above");
    std::fs::rename(temporary, path)?;
    cleanup.disarm();
    Ok(())
}

fn create_temporary(path: &Path) -> io::Result<(PathBuf, File)> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?
        .to_string_lossy();
    let mut last = None;
    for _ in 0..16 {
        let candidate = directory.join(format!(".{name}.{:016x}.tmp", random_suffix()));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(PRIVATE)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&candidate)
        {
            Ok(file) => return Ok((candidate, file)),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => last = Some(error),
            Err(error) => return Err(error),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free temporary name")))
}

/// Unpredictable enough that nobody can plant a file under the name beforehand; the exclusive
/// create is what makes it safe either way.
fn random_suffix() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    hasher.write_u128(crate::time::now_nanos());
    hasher.finish()
}

struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_with_the_mode_asked_and_leaves_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("api.env");
        write_atomic(&private, PRIVATE, b"A=1\n").unwrap();
        let shared = dir.path().join("slipway.lock");
        write_atomic(&shared, SHARED, b"x").unwrap();
        assert_eq!(std::fs::read(&private).unwrap(), b"A=1\n");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&private), 0o600);
        assert_eq!(mode(&shared), 0o644);
        assert_eq!(names(dir.path()), ["api.env", "slipway.lock"]);
    }

    #[test]
    fn links_planted_beside_or_at_the_target_are_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        std::fs::write(&victim, "untouched").unwrap();
        symlink(&victim, dir.path().join("api.env.tmp")).unwrap();
        symlink(&victim, dir.path().join("api.env")).unwrap();
        write_atomic(&dir.path().join("api.env"), PRIVATE, b"SECRET=1\n").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
        let target = dir.path().join("api.env");
        assert!(!std::fs::symlink_metadata(&target).unwrap().is_symlink());
        assert_eq!(std::fs::read_to_string(target).unwrap(), "SECRET=1\n");
    }

    #[test]
    fn a_failure_while_filling_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, "old").unwrap();
        let error = write_atomic_with(&path, PRIVATE, |file| {
            file.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        })
        .unwrap_err();
        assert_eq!(error.to_string(), "disk full");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(names(dir.path()), ["state.json"]);
    }
}
