//! Deterministic layers from a directory: entries sorted, one fixed mtime, normalised owner and
//! modes, gzip from one pinned implementation at one level, so the same tree gives the same
//! digest on every run and every checkout. A layer whose tree did not change is not rebuilt.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::digest::HashingWriter;
use crate::store::write_atomic;
use crate::{Digest, OciError, Result, Store, io_error};

/// gzip level: part of the digest, so it never changes without a new cache format.
const GZIP_LEVEL: u32 = 1;
const CACHE_FORMAT: &str = "slipway-layer-v3";

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

/// A layer in the store, as the cache remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuiltLayer {
    /// Digest of the compressed blob.
    pub digest: Digest,
    /// Digest of the uncompressed tar (the image config's `diff_ids`).
    pub diff_id: Digest,
    /// Compressed size in bytes.
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
    /// The cache at `path`; an empty one when it is missing or unreadable (it is only a cache).
    pub fn load(path: &Path) -> LayerCache {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Writes the cache to `path`, whole or not at all.
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
                let glob = Glob::new(&variant).map_err(|source| OciError::IgnorePattern {
                    pattern: pattern.to_owned(),
                    source,
                })?;
                set.add(glob);
            }
            rules.push((set.build().map_err(OciError::IgnorePatterns)?, negated));
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
    let temp = store.temp_path("layer");
    let file = File::create(&temp).map_err(io_error(&temp))?;
    let compressed = HashingWriter::new(BufWriter::with_capacity(WRITE_BUFFER, file));
    let gzip = GzipWriter::new(compressed).map_err(io_error(&temp))?;
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
    let mut probe = StoreProbe::new();
    for entry in &entries {
        let name = if dest.is_empty() {
            entry.relative.clone()
        } else {
            format!("{dest}/{}", entry.relative)
        };
        match &entry.kind {
            EntryKind::Dir => append_dir(&mut tar, &name, spec.mtime).map_err(io_error(&temp))?,
            EntryKind::Symlink(target) => {
                let mut header = header(tar::EntryType::Symlink, 0o777, 0, spec.mtime);
                tar.append_link(&mut header, &name, target)
                    .map_err(io_error(&entry.path))?;
            }
            EntryKind::File { executable, size } => {
                let mode = if *executable { 0o755 } else { 0o644 };
                let mut header = header(tar::EntryType::Regular, mode, *size, spec.mtime);
                let mut file = File::open(&entry.path).map_err(io_error(&entry.path))?;
                // The first block decides how the file is compressed; it is read once.
                let mut first = Vec::new();
                if *size >= STORE_PROBE_ABOVE {
                    (&mut file)
                        .take(STORE_PROBE_BYTES as u64)
                        .read_to_end(&mut first)
                        .map_err(io_error(&entry.path))?;
                }
                let store_it = probe.incompressible(&first);
                tar.get_mut()
                    .get_mut()
                    .store(store_it)
                    .map_err(io_error(&temp))?;
                // A file that changed size since it was listed would corrupt the archive.
                let rest = size.saturating_sub(first.len() as u64);
                let reader = std::io::Cursor::new(first).chain(file.take(rest));
                tar.append_data(&mut header, &name, reader)
                    .map_err(io_error(&entry.path))?;
                tar.get_mut()
                    .get_mut()
                    .store(false)
                    .map_err(io_error(&temp))?;
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
    // The tar's digest covers every name, mode, time and byte of the tree, and the format
    // and level name how it was compressed: that is the layer's content key.
    let key = format!("{CACHE_FORMAT}/{GZIP_LEVEL}/{}", layer.diff_id);
    let mut cache = cache.lock().expect("not poisoned");
    cache.layers.insert(key.clone(), layer.clone());
    cache.stats.insert(stat_key, key);
    Ok(layer)
}

/// Files at least this large are probed; smaller ones are always compressed.
const STORE_PROBE_ABOVE: u64 = 128 * 1024;
/// The probe compresses this much of the file's start.
const STORE_PROBE_BYTES: usize = 16 * 1024;
const WRITE_BUFFER: usize = 256 * 1024;

/// Decides which files go into a layer as stored deflate blocks: already-compressed assets
/// (images, fonts, archives) cost gzip as much time as text and shrink by nothing. The probe
/// is the pinned compressor itself on the file's first block, so the choice (and the digest)
/// is the same on every machine.
struct StoreProbe {
    deflate: Compress,
    out: Vec<u8>,
}

impl StoreProbe {
    fn new() -> StoreProbe {
        StoreProbe {
            deflate: Compress::new(Compression::new(GZIP_LEVEL), false),
            out: Vec::with_capacity(STORE_PROBE_BYTES * 2),
        }
    }

    fn incompressible(&mut self, first: &[u8]) -> bool {
        if first.len() < STORE_PROBE_BYTES {
            return false;
        }
        self.deflate.reset();
        self.out.clear();
        if self
            .deflate
            .compress_vec(first, &mut self.out, FlushCompress::Finish)
            .is_err()
        {
            return false;
        }
        // Less than 3% saved, or the whole block did not fit in twice its size.
        self.deflate.total_in() < first.len() as u64 || self.out.len() * 100 >= first.len() * 97
    }
}

/// A gzip member whose files are either compressed at the pinned level or stored as they
/// are, written with the header fields fixed (no name, mtime 0, "fastest", unknown OS) so it
/// never depends on the machine.
///
/// Going to stored, the compressed run is sync-flushed (byte-aligned, no final bit); stored
/// blocks follow; going back, the compressor starts afresh, so none of its back-references
/// reach into bytes it did not see. That is how pigz joins its chunks into one stream.
struct GzipWriter<W: Write> {
    inner: W,
    deflate: Compress,
    crc: Crc,
    out: Vec<u8>,
    /// Whether the bytes written now are stored rather than compressed.
    storing: bool,
    /// Stored bytes not yet written out as a block.
    pending: Vec<u8>,
}

/// The largest stored block deflate allows.
const STORED_BLOCK: usize = 65_535;

impl<W: Write> GzipWriter<W> {
    fn new(mut inner: W) -> std::io::Result<GzipWriter<W>> {
        inner.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255])?;
        Ok(GzipWriter {
            inner,
            deflate: Compress::new(Compression::new(GZIP_LEVEL), false),
            crc: Crc::new(),
            out: Vec::with_capacity(WRITE_BUFFER),
            storing: false,
            pending: Vec::new(),
        })
    }

    fn compress(&mut self, mut input: &[u8], flush: FlushCompress) -> std::io::Result<()> {
        loop {
            self.out.clear();
            let before = self.deflate.total_in();
            let status = self
                .deflate
                .compress_vec(input, &mut self.out, flush)
                .map_err(std::io::Error::other)?;
            input = &input[(self.deflate.total_in() - before) as usize..];
            self.inner.write_all(&self.out)?;
            let drained = self.out.len() < self.out.capacity();
            if status == Status::StreamEnd
                || (input.is_empty() && drained && flush != FlushCompress::Finish)
            {
                return Ok(());
            }
        }
    }

    fn write_stored_block(inner: &mut W, data: &[u8]) -> std::io::Result<()> {
        let len = data.len() as u16;
        // BFINAL 0, BTYPE 00, then LEN and its complement, byte-aligned.
        let mut head = [0u8; 5];
        head[1..3].copy_from_slice(&len.to_le_bytes());
        head[3..5].copy_from_slice(&(!len).to_le_bytes());
        inner.write_all(&head)?;
        inner.write_all(data)
    }

    /// From the next byte on, store (`true`) or compress (`false`).
    fn store(&mut self, store: bool) -> std::io::Result<()> {
        if store == self.storing {
            return Ok(());
        }
        if store {
            self.compress(&[], FlushCompress::Sync)?;
            self.pending.reserve(STORED_BLOCK);
        } else {
            if !self.pending.is_empty() {
                Self::write_stored_block(&mut self.inner, &self.pending)?;
                self.pending.clear();
            }
            self.deflate.reset();
        }
        self.storing = store;
        Ok(())
    }

    fn finish(mut self) -> std::io::Result<W> {
        self.store(false)?;
        self.compress(&[], FlushCompress::Finish)?;
        self.inner.write_all(&self.crc.sum().to_le_bytes())?;
        self.inner.write_all(&self.crc.amount().to_le_bytes())?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for GzipWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.crc.update(buf);
        if !self.storing {
            self.compress(buf, FlushCompress::None)?;
            return Ok(buf.len());
        }
        let mut rest = buf;
        while !rest.is_empty() {
            let take = rest.len().min(STORED_BLOCK - self.pending.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == STORED_BLOCK {
                Self::write_stored_block(&mut self.inner, &self.pending)?;
                self.pending.clear();
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
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

    #[test]
    fn already_compressed_files_are_stored_and_the_layer_still_reads_back_whole() {
        let (dir, store_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let root = dir.path();
        // Bytes that no compressor shrinks, as in images, fonts and archives.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let noise: Vec<u8> = (0..300_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        let text = "def handler(request):\n    return render(request, 'page.html')\n".repeat(4000);
        std::fs::create_dir_all(root.join("static")).unwrap();
        std::fs::write(root.join("static/photo.jpg"), &noise).unwrap();
        std::fs::write(root.join("views.py"), &text).unwrap();
        std::fs::write(root.join("zz_after.py"), &text).unwrap();
        let store = Store::open(store_dir.path()).unwrap();
        let layer = build_layer(
            &store,
            &spec(root),
            &std::sync::Mutex::new(LayerCache::default()),
        )
        .unwrap();
        let bytes = store.read_blob(&layer.digest).unwrap();
        // Deflated, the noise would grow; stored, it costs its size plus block headers, and
        // the text around it (about 7 KiB deflated) still shrinks.
        let mut deflate = Compress::new(Compression::new(GZIP_LEVEL), false);
        let mut deflated_noise = Vec::with_capacity(noise.len() * 2);
        deflate
            .compress_vec(&noise, &mut deflated_noise, FlushCompress::Finish)
            .unwrap();
        let stored_budget = noise.len() + 12 * 1024;
        assert!(deflated_noise.len() > stored_budget);
        assert!(bytes.len() < stored_budget, "{} bytes", bytes.len());
        let mut files = BTreeMap::new();
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().display().to_string();
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            files.insert(name, content);
        }
        assert_eq!(files["srv/app/static/photo.jpg"], noise);
        assert_eq!(files["srv/app/views.py"], text.as_bytes());
        assert_eq!(files["srv/app/zz_after.py"], text.as_bytes());
        // The trailer's length and CRC are checked by an independent reader too.
        let path = store.blob_path(&layer.digest);
        let status = std::process::Command::new("gzip")
            .arg("-t")
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        // Same tree, same bytes.
        let again = build_layer(
            &Store::open(tempfile::tempdir().unwrap().path()).unwrap(),
            &spec(root),
            &std::sync::Mutex::new(LayerCache::default()),
        )
        .unwrap();
        assert_eq!(again.digest, layer.digest);
    }
}
