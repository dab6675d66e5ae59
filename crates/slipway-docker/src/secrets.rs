//! Secrets delivered as files at `/run/secrets/<name>` (`secret_files` in slipway.toml).
//!
//! Each container that has some gets a directory of its own on the host's `/dev/shm` (a tmpfs),
//! bind-mounted at `/run/secrets`. After the container is created and before it starts, the
//! files go in through the engine's archive upload (`PUT /containers/{id}/archive`) as a tar
//! whose entries carry mode 0400 and the container user's numeric uid:gid; the engine extracts
//! it into the bound directory, so the bytes travel over the engine's API only (the unix socket,
//! ssh or TLS) and land on tmpfs. Nothing of them is in an image layer, the container's own
//! writable layer, its config, labels or env, or `docker inspect`: only a keyed digest of the
//! values goes into the container's config-hash label, so a changed value recreates it.
//!
//! Why not a tmpfs mount with the files uploaded into it: the engine extracts an upload into
//! the container's writable layer on disk, under the mount point, where the tmpfs later hides it
//! (checked on Engine 20.10); the file would be both on disk and invisible to the app.

use std::io::Read as _;
use std::path::Path;

use bollard::query_parameters::{DownloadFromContainerOptions, UploadToContainerOptions};
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{DockerError, Engine, Result, engine};

/// Where the files appear inside the container.
pub const SECRETS_DIR: &str = "/run/secrets";
/// The tmpfs directory on the host under which each container's files are kept.
pub const HOST_SECRETS_ROOT: &str = "/dev/shm/slipway-secrets";
/// The names (never the values) of the files a container receives, comma-separated: what
/// removing it wipes.
pub const LABEL_SECRET_FILES: &str = "dev.slipway.secret-files";

/// The files one container receives under /run/secrets. Only their keyed digest is ever
/// serialized (into the config hash) or printed.
#[derive(Clone, Default)]
pub struct SecretFiles {
    files: Vec<(String, String)>,
    digest: String,
}

impl SecretFiles {
    /// `files` are (file name, value); `key` is the project's digest key ([`digest_key`]).
    pub fn new(mut files: Vec<(String, String)>, key: &[u8]) -> SecretFiles {
        files.sort();
        if files.is_empty() {
            return SecretFiles::default();
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any size");
        for (name, value) in &files {
            mac.update(&(name.len() as u64).to_be_bytes());
            mac.update(name.as_bytes());
            mac.update(&(value.len() as u64).to_be_bytes());
            mac.update(value.as_bytes());
        }
        SecretFiles {
            files,
            digest: format!("hmac-sha256:{}", hex::encode(mac.finalize().into_bytes())),
        }
    }

    /// The files of an app or a service: its `secret_files` (file name → secret name) with the
    /// values the environment's rendering read.
    pub fn of(
        declared: &indexmap::IndexMap<String, String>,
        rendered: &slipway_config::RenderedEnvironment,
        key: &[u8],
        owner: &str,
    ) -> Result<SecretFiles> {
        let mut files = Vec::new();
        for (file, secret) in declared {
            let value = rendered.secret_file(secret).ok_or_else(|| {
                DockerError::Engine(format!(
                    "{owner}: secret `{secret}` (for /run/secrets/{file}) has no value in environment `{}`",
                    rendered.environment
                ))
            })?;
            files.push((file.clone(), value.to_owned()));
        }
        Ok(SecretFiles::new(files, key))
    }

    /// Whether the container receives no files.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The file names, sorted (never the values).
    pub fn names(&self) -> Vec<&str> {
        self.files.iter().map(|(name, _)| name.as_str()).collect()
    }

    /// The keyed digest of names and values (`hmac-sha256:...`), the one part that may be shown or
    /// hashed.
    pub fn digest(&self) -> &str {
        &self.digest
    }
}

impl std::fmt::Debug for SecretFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretFiles")
            .field("names", &self.names())
            .finish_non_exhaustive()
    }
}

impl serde::Serialize for SecretFiles {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.digest)
    }
}

/// The project's key for digests of secret values (`<state dir>/secret-digest.key`, 32 random
/// bytes, 0600, made on first use). A digest on a label that anyone with `docker inspect` reads
/// must not let them test guesses of a short password.
pub fn digest_key(state_dir: &Path) -> Result<Vec<u8>> {
    let path = state_dir.join("secret-digest.key");
    if let Ok(key) = std::fs::read(&path)
        && key.len() == 32
    {
        return Ok(key);
    }
    let io = |source| DockerError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(state_dir).map_err(io)?;
    let mut key = vec![0u8; 32];
    getrandom::fill(&mut key).map_err(|e| io(std::io::Error::other(e.to_string())))?;
    slipway_core::files::write_atomic(&path, slipway_core::files::PRIVATE, &key).map_err(io)?;
    Ok(key)
}

/// The host directory bound at /run/secrets for a new container: its name and a random part,
/// since engines that share a host (and its /dev/shm) may each have a container of that name.
pub fn host_dir(container: &str) -> Result<String> {
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(|e| DockerError::Io {
        path: "the OS random source".into(),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(format!(
        "{HOST_SECRETS_ROOT}/{container}-{}",
        hex::encode(random)
    ))
}

/// The numeric uid:gid a container's `user` runs as, the way the engine resolves it: `uid`,
/// `uid:gid`, `name`, `name:group` (names from the image's /etc/passwd and /etc/group); a uid
/// without a group takes its passwd entry's group, or 0 without one; no user is root.
pub fn resolve_owner(
    user: &str,
    passwd: Option<&str>,
    group: Option<&str>,
) -> std::result::Result<(u32, u32), String> {
    let user = user.trim();
    if user.is_empty() {
        return Ok((0, 0));
    }
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    // passwd: name:x:uid:gid:...
    let entries: Vec<(&str, u32, u32)> = passwd
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            Some((
                fields.first()?.to_owned(),
                fields.get(2)?.parse().ok()?,
                fields.get(3)?.parse().ok()?,
            ))
        })
        .collect();
    let (uid, primary) = match user_part.parse::<u32>() {
        Ok(uid) => (
            uid,
            entries
                .iter()
                .find(|(_, u, _)| *u == uid)
                .map_or(0, |(_, _, g)| *g),
        ),
        Err(_) => entries
            .iter()
            .find(|(name, _, _)| *name == user_part)
            .map(|(_, u, g)| (*u, *g))
            .ok_or_else(|| format!("user `{user_part}` is not in the image's /etc/passwd"))?,
    };
    let gid = match group_part {
        None => primary,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => group
                .unwrap_or_default()
                .lines()
                .find_map(|line| {
                    let fields: Vec<&str> = line.split(':').collect();
                    (fields.first() == Some(&g)).then(|| fields.get(2)?.parse().ok())?
                })
                .ok_or_else(|| format!("group `{g}` is not in the image's /etc/group"))?,
        },
    };
    Ok((uid, gid))
}

/// A tar of the files, each `0400` and owned by `uid:gid`, extracted at /run/secrets.
pub fn secrets_tar(files: &[(&str, &[u8])], uid: u32, gid: u32) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, value) in files {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(value.len() as u64);
        header.set_mode(0o400);
        header.set_uid(u64::from(uid));
        header.set_gid(u64::from(gid));
        header.set_mtime(0);
        builder
            .append_data(&mut header, name, *value)
            .expect("a tar in memory takes any entry");
    }
    builder.into_inner().expect("a tar in memory finishes")
}

/// A tar of private files (0600, owned by root) under directories of mode 0700, for
/// [`Engine::put_private_files`]; `files` are (path relative to the upload's directory, bytes).
pub fn private_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut dirs = std::collections::BTreeSet::new();
    for (path, _) in files {
        let mut parent = Path::new(path).parent();
        while let Some(dir) = parent.filter(|d| !d.as_os_str().is_empty()) {
            dirs.insert(dir.to_path_buf());
            parent = dir.parent();
        }
    }
    for dir in dirs {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_size(0);
        header.set_mode(0o700);
        header.set_mtime(0);
        builder
            .append_data(&mut header, &dir, std::io::empty())
            .expect("a tar in memory takes any entry");
    }
    for (path, value) in files {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(value.len() as u64);
        header.set_mode(0o600);
        header.set_mtime(0);
        builder
            .append_data(&mut header, path, *value)
            .expect("a tar in memory takes any entry");
    }
    builder.into_inner().expect("a tar in memory finishes")
}

impl Engine {
    /// Writes files only root may read (0600) into a container's `dir` through the engine's
    /// archive upload (nothing in an image layer, its config or a log): e.g. the proxy's
    /// certificates into its state volume. The error names the container and the directory,
    /// never the contents.
    pub async fn put_private_files(
        &self,
        container: &str,
        dir: &str,
        files: &[(&str, &[u8])],
    ) -> Result<()> {
        self.docker
            .upload_to_container(
                container,
                Some(UploadToContainerOptions {
                    path: dir.into(),
                    ..Default::default()
                }),
                bollard::body_full(private_tar(files).into()),
            )
            .await
            .map_err(|e| {
                DockerError::Engine(format!("{container}: writing files under {dir}: {e}"))
            })
    }

    /// Writes a container's secret files into its /run/secrets (the bound tmpfs directory),
    /// owned by the user it runs as. The container exists (created or running).
    pub(crate) async fn write_secret_files(
        &self,
        container: &str,
        image: &str,
        user: Option<&str>,
        files: &SecretFiles,
    ) -> Result<()> {
        let user = match user {
            Some(user) => user.to_owned(),
            None => self
                .docker
                .inspect_image(image)
                .await
                .map_err(engine)?
                .config
                .and_then(|c| c.user)
                .unwrap_or_default(),
        };
        let numeric = user
            .split(':')
            .all(|part| !part.is_empty() && part.parse::<u32>().is_ok());
        let (passwd, group) = if user.is_empty() || numeric && user.contains(':') {
            (None, None)
        } else {
            (
                self.read_container_file(container, "/etc/passwd").await,
                self.read_container_file(container, "/etc/group").await,
            )
        };
        let (uid, gid) = resolve_owner(&user, passwd.as_deref(), group.as_deref())
            .map_err(|e| DockerError::Engine(format!("{container}: its secret files: {e}")))?;
        let entries: Vec<(&str, &[u8])> = files
            .files
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes()))
            .collect();
        self.upload_secrets(container, secrets_tar(&entries, uid, gid))
            .await
    }

    async fn upload_secrets(&self, container: &str, tar: Vec<u8>) -> Result<()> {
        self.docker
            .upload_to_container(
                container,
                Some(UploadToContainerOptions {
                    path: SECRETS_DIR.into(),
                    ..Default::default()
                }),
                bollard::body_full(tar.into()),
            )
            .await
            .map_err(|e| {
                DockerError::Engine(format!(
                    "{container}: writing its files under {SECRETS_DIR}: {e}"
                ))
            })
    }

    /// Empties the secret files of a container about to be removed: the host directory they
    /// live in outlasts the container (until the host restarts), their contents do not.
    pub(crate) async fn wipe_secret_files(&self, container: &str) {
        let Ok(inspect) = self.docker.inspect_container(container, None).await else {
            return;
        };
        let names: Vec<String> = inspect
            .config
            .and_then(|c| c.labels)
            .and_then(|labels| labels.get(LABEL_SECRET_FILES).cloned())
            .map(|names| {
                names
                    .split(',')
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if names.is_empty() {
            return;
        }
        let empty: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &[][..])).collect();
        let _ = self
            .upload_secrets(container, secrets_tar(&empty, 0, 0))
            .await;
    }

    /// A small text file of a container's filesystem (e.g. the image's /etc/passwd).
    async fn read_container_file(&self, container: &str, path: &str) -> Option<String> {
        let mut stream = self.docker.download_from_container(
            container,
            Some(DownloadFromContainerOptions {
                path: path.to_owned(),
            }),
        );
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(&chunk.ok()?);
        }
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut entry = archive.entries().ok()?.next()?.ok()?;
        let mut text = String::new();
        entry.read_to_string(&mut text).ok()?;
        Some(text)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn private_files_are_0600_under_0700_directories() {
        let tar = private_tar(&[("tls/incoming/shop.test.pem", b"pem")]);
        let mut archive = tar::Archive::new(tar.as_slice());
        let entries: Vec<(String, u32)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path()
                        .unwrap()
                        .to_string_lossy()
                        .trim_end_matches('/')
                        .to_owned(),
                    e.header().mode().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            entries,
            vec![
                ("tls".to_owned(), 0o700),
                ("tls/incoming".to_owned(), 0o700),
                ("tls/incoming/shop.test.pem".to_owned(), 0o600),
            ]
        );
    }
    use std::io::Read as _;

    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\npostgres:x:999:999::/var/lib/postgresql:/bin/bash\napp:x:1000:1001::/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\npostgres:x:999:\napp:x:1001:\nssl-cert:x:101:postgres\n";

    #[test]
    fn the_owner_is_the_user_the_container_runs_as() {
        let owner = |user| resolve_owner(user, Some(PASSWD), Some(GROUP));
        assert_eq!(owner(""), Ok((0, 0)));
        assert_eq!(owner("postgres"), Ok((999, 999)));
        assert_eq!(owner("app"), Ok((1000, 1001)));
        assert_eq!(
            owner("1000"),
            Ok((1000, 1001)),
            "a known uid takes its group"
        );
        assert_eq!(
            owner("4242"),
            Ok((4242, 0)),
            "an unknown uid runs with group 0"
        );
        assert_eq!(owner("1000:50"), Ok((1000, 50)));
        assert_eq!(owner("postgres:ssl-cert"), Ok((999, 101)));
        assert_eq!(resolve_owner("1000:1000", None, None), Ok((1000, 1000)));
        let missing = owner("nobody-here").unwrap_err();
        assert!(missing.contains("`nobody-here`"), "{missing}");
        assert!(owner("app:wheel").unwrap_err().contains("`wheel`"));
    }

    #[test]
    fn the_tar_carries_mode_0400_and_the_owner_and_nothing_else() {
        let tar = secrets_tar(&[("db-password", b"hunter2"), ("api-key", b"k")], 999, 101);
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let header = entry.header().clone();
            let mut value = String::new();
            entry.read_to_string(&mut value).unwrap();
            assert_eq!(header.entry_type(), tar::EntryType::Regular);
            assert_eq!(header.mode().unwrap(), 0o400);
            assert_eq!((header.uid().unwrap(), header.gid().unwrap()), (999, 101));
            seen.push((entry.path().unwrap().display().to_string(), value));
        }
        assert_eq!(
            seen,
            [
                ("db-password".to_owned(), "hunter2".to_owned()),
                ("api-key".to_owned(), "k".to_owned())
            ]
        );
    }

    #[test]
    fn only_a_keyed_digest_of_the_values_is_serialized() {
        let files = |value: &str, key: &[u8]| {
            SecretFiles::new(vec![("db-password".into(), value.into())], key)
        };
        let a = files("hunter2", b"key one");
        let json = serde_json::to_string(&a).unwrap();
        assert!(!json.contains("hunter2"), "{json}");
        assert!(!format!("{a:?}").contains("hunter2"));
        assert_eq!(
            json,
            serde_json::to_string(&files("hunter2", b"key one")).unwrap()
        );
        assert_ne!(
            a.digest(),
            files("hunter3", b"key one").digest(),
            "a new value, a new hash"
        );
        assert_ne!(a.digest(), files("hunter2", b"key two").digest(), "keyed");
        // Plain SHA-256 of the value would let a reader of the label test guesses.
        use sha2::Digest as _;
        assert!(
            !a.digest()
                .contains(&hex::encode(sha2::Sha256::digest(b"hunter2")))
        );
        assert!(SecretFiles::new(Vec::new(), b"k").is_empty());
    }
}
