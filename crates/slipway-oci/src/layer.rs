//! Deterministic layers from a directory: entries sorted, one fixed mtime, normalised owner and
//! modes, gzip from one pinned implementation at one level, so the same tree gives the same
//! digest on every run and every checkout. A layer whose tree did not change is not rebuilt.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::digest::HashingWriter;
use crate::store::write_atomic;
use crate::{Digest, OciError, Result, Store, io_error};

/// gzip level: part of the digest, so it never changes without a new cache format.
const GZIP_LEVEL: u32 = 1;
const CACHE_FORMAT: &str = "slipway-layer-v2";

/// What goes into one layer.
#[derive(Debug, Clone)]
pub struct LayerSpec {
    /// The directory the files come from.
    pub source: PathBuf,
    /// Where they land in the image, e.g. `/srv/app`.
    pub dest: String,
    /// Only this sub-directory of `source` (a dependency layer such as `vendor`).
    pub only: Option<String>,
    /// Sub-directories left to other layers.
    pub exclude: Vec<String>,
    /// `.dockerignore`-style patterns.
    pub ignore: Vec<String>,
    /// Modification time written for every entry (SOURCE_DATE_EPOCH or the commit time).
    pub mtime: u64,
    /// `(index, count)`: only the top-level entries whose name hashes to `index` of `count`
    /// buckets. A large app is spread over a few layers this way, and a change re-builds and
    /// re-uploads only the bucket it falls in; the bucket of a name never changes.
    pub bucket: Option<(u32, u32)>,
}

/// The bucket of a top-level entry, stable across runs and machines.
pub fn bucket_of(name: &str, count: u32) -> u32 {
    let hash = Sha256::digest(name.as_bytes());
    u32::from_be_bytes([hash[0], hash[1], hash[2], hash[3]]) % count.max(1)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuiltLayer {
    /// Digest of the compressed blob.
    pub digest: Digest,
    /// Digest of the uncompressed tar (the image config's `diff_ids`).
    pub diff_id: Digest,
    pub size: u64,
    /// Taken from the cache: the tree had not changed.
    #[serde(skip)]
    pub reused: bool,
}

/// Tree hash → layer, kept beside the store.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct LayerCache {
    /// Content hash of a tree → its layer.
    layers: BTreeMap<String, BuiltLayer>,
    /// Hash of a tree's file metadata (size, times, inode, mode) → its content hash, so an
    /// unchanged tree is recognised without reading it, as git's index does.
    #[serde(default)]
    stats: BTreeMap<String, String>,
}

impl LayerCache {
    pub fn load(path: &Path) -> LayerCache {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(
            path,
            &serde_json::to_vec_pretty(self).expect("serializable"),
        )
    }
}

enum EntryKind {
    Dir,
    File { executable: bool, size: u64 },
    Symlink(PathBuf),
}

struct Entry {
    /// Size, modification and change times, inode and mode of a file; empty for others.
    stat: String,
    /// Relative to `source`, with `/` separators.
    relative: String,
    path: PathBuf,
    kind: EntryKind,
}

/// Reads `.dockerignore` patterns of a directory (plus extra ones).
pub fn ignore_patterns(source: &Path, extra: &[String]) -> Vec<String> {
    // Never in an image unless a .dockerignore line (`!.env`) asks for it: version control,
    // slipway's state, and env files, which hold secrets.
    let mut patterns: Vec<String> = [
        ".git",
        ".slipway",
        ".env",
        "**/.env",
        "**/*.env",
        "**/.env.*",
    ]
    .iter()
    .map(|p| (*p).to_owned())
    .collect();
    patterns.extend(
        std::fs::read_to_string(source.join(".dockerignore"))
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned),
    );
    patterns.extend(extra.iter().cloned());
    patterns
}

struct Ignore {
    /// (pattern, negated) in order: the last match decides, as in .dockerignore.
    rules: Vec<(GlobSet, bool)>,
}

impl Ignore {
    fn new(patterns: &[String]) -> Result<Ignore> {
        let mut rules = Vec::new();
        for pattern in patterns {
            let (negated, pattern) = match pattern.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, pattern.as_str()),
            };
            let pattern = pattern
                .trim_start_matches("./")
                .trim_start_matches('/')
                .trim_end_matches('/');
            let mut set = GlobSetBuilder::new();
            for variant in [pattern.to_owned(), format!("{pattern}/**")] {
                let glob = Glob::new(&variant).map_err(|e| {
                    OciError::Json(format!(".dockerignore pattern `{pattern}`: {e}"))
                })?;
                set.add(glob);
            }
            rules.push((
                set.build().map_err(|e| OciError::Json(e.to_string()))?,
                negated,
            ));
        }
        Ok(Ignore { rules })
    }

    fn ignored(&self, relative: &str) -> bool {
        let mut ignored = false;
        for (set, negated) in &self.rules {
            if set.is_match(relative) {
                ignored = !negated;
            }
        }
        ignored
    }
}

fn collect(spec: &LayerSpec) -> Result<Vec<Entry>> {
    let ignore = Ignore::new(&spec.ignore)?;
    let mut entries = Vec::new();
    let start = match &spec.only {
        Some(only) => spec.source.join(only),
        None => spec.source.clone(),
    };
    if let Some(only) = &spec.only {
        // The parents of a dependency layer's directory, so its entries have owners and modes.
        let mut prefix = String::new();
        for part in only.split('/') {
            prefix = if prefix.is_empty() {
                part.to_owned()
            } else {
                format!("{prefix}/{part}")
            };
            entries.push(Entry {
                stat: String::new(),
                relative: prefix.clone(),
                path: spec.source.join(&prefix),
                kind: EntryKind::Dir,
            });
        }
        entries.pop();
    }
    walk(
        &spec.source,
        &start,
        &ignore,
        &spec.exclude,
        spec.bucket,
        &mut entries,
    )?;
    Ok(entries)
}

fn walk(
    source: &Path,
    dir: &Path,
    ignore: &Ignore,
    exclude: &[String],
    bucket: Option<(u32, u32)>,
    out: &mut Vec<Entry>,
) -> Result<()> {
    let mut children: Vec<_> = std::fs::read_dir(dir)
        .map_err(io_error(dir))?
        .collect::<std::io::Result<_>>()
        .map_err(io_error(dir))?;
    children.sort_by_key(|c| c.file_name());
    if dir != source || out.is_empty() {
        let relative = relative_of(source, dir);
        if !relative.is_empty() {
            out.push(Entry {
                stat: String::new(),
                relative,
                path: dir.to_path_buf(),
                kind: EntryKind::Dir,
            });
        }
    }
    for child in children {
        let path = child.path();
        let relative = relative_of(source, &path);
        if ignore.ignored(&relative)
            || relative == ".dockerignore"
            || exclude
                .iter()
                .any(|e| relative == *e || relative.starts_with(&format!("{e}/")))
        {
            continue;
        }
        if let Some((index, count)) = bucket
            && dir == source
            && bucket_of(&relative, count) != index
        {
            continue;
        }
        let meta = std::fs::symlink_metadata(&path).map_err(io_error(&path))?;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).map_err(io_error(&path))?;
            out.push(Entry {
                stat: String::new(),
                relative,
                path,
                kind: EntryKind::Symlink(target),
            });
        } else if meta.is_dir() {
            walk(source, &path, ignore, exclude, None, out)?;
        } else if meta.is_file() {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            let executable = meta.permissions().mode() & 0o111 != 0;
            out.push(Entry {
                stat: format!(
                    "{}:{}.{}:{}.{}:{}:{}",
                    meta.len(),
                    meta.mtime(),
                    meta.mtime_nsec(),
                    meta.ctime(),
                    meta.ctime_nsec(),
                    meta.ino(),
                    meta.mode()
                ),
                relative,
                path,
                kind: EntryKind::File {
                    executable,
                    size: meta.len(),
                },
            });
        }
    }
    Ok(())
}

fn relative_of(source: &Path, path: &Path) -> String {
    path.strip_prefix(source)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Hash of what decides the layer's bytes as far as file metadata tells.
fn stat_hash(spec: &LayerSpec, entries: &[Entry]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(format!(
        "{CACHE_FORMAT}\0{}\0{}\0{GZIP_LEVEL}\0",
        spec.dest, spec.mtime
    ));
    for entry in entries {
        hasher.update(entry.relative.as_bytes());
        match &entry.kind {
            EntryKind::Dir => hasher.update(b"\0d\0"),
            EntryKind::Symlink(target) => {
                hasher.update(b"\0l\0");
                hasher.update(target.to_string_lossy().as_bytes());
            }
            EntryKind::File { executable, .. } => {
                hasher.update(format!("\0f{}{}\0", u8::from(*executable), entry.stat))
            }
        }
    }
    hex::encode(hasher.finalize())
}

/// Feeds what it reads to the tree's content hash.
struct TreeHashingReader<'h, R> {
    inner: R,
    hasher: &'h mut Sha256,
}

impl<R: Read> Read for TreeHashingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Builds (or reuses) the layer described by `spec` into the store.
pub fn build_layer(
    store: &Store,
    spec: &LayerSpec,
    cache: &std::sync::Mutex<LayerCache>,
) -> Result<BuiltLayer> {
    let entries = collect(spec)?;
    let stat_key = stat_hash(spec, &entries);
    let cached = {
        let cache = cache.lock().expect("not poisoned");
        cache
            .stats
            .get(&stat_key)
            .and_then(|key| cache.layers.get(key))
            .cloned()
    };
    if let Some(layer) = cached
        && store.has_blob(&layer.digest)
    {
        return Ok(BuiltLayer {
            reused: true,
            ..layer
        });
    }
    // One pass over the files: tar, compress, and hash the content for the cache.
    let mut tree = Sha256::new();
    tree.update(format!(
        "{CACHE_FORMAT}\0{}\0{}\0{GZIP_LEVEL}\0",
        spec.dest, spec.mtime
    ));
    let temp = store.temp_path("layer");
    let file = File::create(&temp).map_err(io_error(&temp))?;
    let compressed = HashingWriter::new(BufWriter::new(file));
    let gzip = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(compressed, Compression::new(GZIP_LEVEL));
    let uncompressed = HashingWriter::new(gzip);
    let mut tar = tar::Builder::new(uncompressed);
    tar.mode(tar::HeaderMode::Deterministic);
    let dest = spec.dest.trim_matches('/');
    let mut prefix = String::new();
    for part in dest.split('/').filter(|p| !p.is_empty()) {
        prefix = if prefix.is_empty() {
            part.to_owned()
        } else {
            format!("{prefix}/{part}")
        };
        append_dir(&mut tar, &prefix, spec.mtime).map_err(io_error(&temp))?;
    }
    for entry in &entries {
        let name = if dest.is_empty() {
            entry.relative.clone()
        } else {
            format!("{dest}/{}", entry.relative)
        };
        tree.update(entry.relative.as_bytes());
        match &entry.kind {
            EntryKind::Dir => {
                tree.update(b"\0d\0");
                append_dir(&mut tar, &name, spec.mtime).map_err(io_error(&temp))?
            }
            EntryKind::Symlink(target) => {
                tree.update(b"\0l\0");
                tree.update(target.to_string_lossy().as_bytes());
                let mut header = header(tar::EntryType::Symlink, 0o777, 0, spec.mtime);
                tar.append_link(&mut header, &name, target)
                    .map_err(io_error(&entry.path))?;
            }
            EntryKind::File { executable, size } => {
                let mode = if *executable { 0o755 } else { 0o644 };
                let mut header = header(tar::EntryType::Regular, mode, *size, spec.mtime);
                tree.update(format!("\0f{}{size}\0", u8::from(*executable)));
                let file = File::open(&entry.path).map_err(io_error(&entry.path))?;
                // A file that changed size since it was listed would corrupt the archive.
                let reader = TreeHashingReader {
                    inner: file.take(*size),
                    hasher: &mut tree,
                };
                tar.append_data(&mut header, &name, reader)
                    .map_err(io_error(&entry.path))?;
            }
        }
    }
    let uncompressed = tar.into_inner().map_err(io_error(&temp))?;
    let (gzip, diff_id, _) = uncompressed.finish();
    let compressed = gzip.finish().map_err(io_error(&temp))?;
    let (mut writer, digest, size) = compressed.finish();
    writer.flush().map_err(io_error(&temp))?;
    drop(writer);
    store.adopt(&temp, &digest)?;
    let layer = BuiltLayer {
        digest,
        diff_id,
        size,
        reused: false,
    };
    let key = hex::encode(tree.finalize());
    let mut cache = cache.lock().expect("not poisoned");
    cache.layers.insert(key.clone(), layer.clone());
    cache.stats.insert(stat_key, key);
    Ok(layer)
}

fn header(kind: tar::EntryType, mode: u32, size: u64, mtime: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_mtime(mtime);
    header.set_uid(0);
    header.set_gid(0);
    header
}

fn append_dir<W: Write>(tar: &mut tar::Builder<W>, name: &str, mtime: u64) -> std::io::Result<()> {
    let mut header = header(tar::EntryType::Directory, 0o755, 0, mtime);
    tar.append_data(&mut header, format!("{name}/"), std::io::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(source: &Path) -> LayerSpec {
        LayerSpec {
            source: source.to_path_buf(),
            dest: "/srv/app".into(),
            only: None,
            exclude: vec!["vendor".into()],
            ignore: ignore_patterns(source, &[]),
            mtime: 1_700_000_000,
            bucket: None,
        }
    }

    fn tree(root: &Path) {
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::create_dir_all(root.join("vendor/lib")).unwrap();
        std::fs::write(root.join("src/main.py"), "print('hi')\n").unwrap();
        std::fs::write(root.join("vendor/lib/dep.py"), "x = 1\n").unwrap();
        std::fs::write(root.join("secret.log"), "noise\n").unwrap();
        std::fs::write(root.join(".dockerignore"), "*.log\n").unwrap();
    }

    #[test]
    fn same_tree_same_digest_in_two_checkouts_and_cache_hits() {
        let (a, b, store_dir) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        tree(a.path());
        tree(b.path());
        let store = Store::open(store_dir.path()).unwrap();
        let cache = std::sync::Mutex::new(LayerCache::default());
        let first = build_layer(&store, &spec(a.path()), &cache).unwrap();
        let other_cache = std::sync::Mutex::new(LayerCache::default());
        let second = build_layer(&store, &spec(b.path()), &other_cache).unwrap();
        assert_eq!(first.digest, second.digest);
        assert!(!second.reused);
        let again = build_layer(&store, &spec(a.path()), &cache).unwrap();
        assert!(again.reused);
        std::fs::write(a.path().join("src/main.py"), "print('changed')\n").unwrap();
        let changed = build_layer(&store, &spec(a.path()), &cache).unwrap();
        assert_ne!(changed.digest, first.digest);
    }

    #[test]
    fn ignored_and_excluded_paths_stay_out_and_dependency_layers_hold_only_theirs() {
        let (dir, store_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        tree(dir.path());
        let store = Store::open(store_dir.path()).unwrap();
        let main = build_layer(
            &store,
            &spec(dir.path()),
            &std::sync::Mutex::new(LayerCache::default()),
        )
        .unwrap();
        let names = |digest: &Digest| -> Vec<String> {
            let bytes = store.read_blob(digest).unwrap();
            let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
            archive
                .entries()
                .unwrap()
                .map(|e| e.unwrap().path().unwrap().display().to_string())
                .collect()
        };
        assert_eq!(
            names(&main.digest),
            vec!["srv/", "srv/app/", "srv/app/src/", "srv/app/src/main.py"]
        );
        let vendor = LayerSpec {
            only: Some("vendor".into()),
            exclude: vec![],
            ..spec(dir.path())
        };
        let layer = build_layer(
            &store,
            &vendor,
            &std::sync::Mutex::new(LayerCache::default()),
        )
        .unwrap();
        assert_eq!(
            names(&layer.digest),
            vec![
                "srv/",
                "srv/app/",
                "srv/app/vendor/",
                "srv/app/vendor/lib/",
                "srv/app/vendor/lib/dep.py"
            ]
        );
    }

    #[test]
    fn buckets_partition_the_tree_and_a_change_touches_one() {
        let (dir, store_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for i in 0..12 {
            std::fs::create_dir_all(dir.path().join(format!("pkg{i}"))).unwrap();
            std::fs::write(
                dir.path().join(format!("pkg{i}/mod.py")),
                format!("x = {i}\n"),
            )
            .unwrap();
        }
        let store = Store::open(store_dir.path()).unwrap();
        let cache = std::sync::Mutex::new(LayerCache::default());
        let bucketed = |index| LayerSpec {
            bucket: Some((index, 4)),
            exclude: vec![],
            ..spec(dir.path())
        };
        let files = |layer: &BuiltLayer| -> Vec<String> {
            let bytes = store.read_blob(&layer.digest).unwrap();
            let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
            archive
                .entries()
                .unwrap()
                .map(|e| e.unwrap().path().unwrap().display().to_string())
                .filter(|p| p.ends_with(".py"))
                .collect()
        };
        let before: Vec<BuiltLayer> = (0..4)
            .map(|i| build_layer(&store, &bucketed(i), &cache).unwrap())
            .collect();
        let mut all: Vec<String> = before.iter().flat_map(files).collect();
        all.sort();
        assert_eq!(all.len(), 12, "every file in exactly one bucket: {all:?}");
        all.dedup();
        assert_eq!(all.len(), 12);
        std::fs::write(dir.path().join("pkg3/mod.py"), "x = 'changed'\n").unwrap();
        let after: Vec<BuiltLayer> = (0..4)
            .map(|i| build_layer(&store, &bucketed(i), &cache).unwrap())
            .collect();
        let changed = before
            .iter()
            .zip(&after)
            .filter(|(b, a)| b.digest != a.digest)
            .count();
        assert_eq!(changed, 1);
        assert_eq!(after.iter().filter(|l| l.reused).count(), 3);
    }
}
