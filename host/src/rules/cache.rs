//! Compiled rules, reused: once per process in memory, and across processes as
//! precompiled artifacts on disk, keyed by the engine's compatibility hash and
//! the component's sha256 — so a host starts with every rule ready without
//! compiling.
//!
//! A precompiled artifact is native code: whoever can plant one runs code in
//! the host that was never pinned or signed. So the cache trusts nothing it did
//! not write itself: the directory must be this user's alone (created 0700;
//! one owned by someone else, or open to others and not ours to close, is not
//! used), and every artifact carries an HMAC-SHA256 under a key kept outside
//! the directory (created 0600 on first use, or, where no such file can be
//! had, a key of this process alone). An artifact that fails the check is
//! removed and the rule compiled again from its verified bytes.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use wasmtime::Engine;
use wasmtime::component::Component;

type ArtifactMac = Hmac<Sha256>;
const MAC_BYTES: usize = 32;

/// A directory of precompiled components, each followed by its HMAC.
#[derive(Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
    engine_key: String,
    key: [u8; 32],
}

impl std::fmt::Debug for ArtifactCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactCache")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl ArtifactCache {
    /// The cache in `dir`, or none when `dir` cannot be made this user's alone.
    pub fn new(dir: PathBuf, engine: &Engine) -> Option<ArtifactCache> {
        if let Err(reason) = private_dir(&dir) {
            tracing::warn!(dir = %dir.display(), %reason, "not using the precompiled-rule cache");
            return None;
        }
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        env!("CARGO_PKG_VERSION").hash(&mut hasher);
        Some(ArtifactCache {
            key: artifact_key(&key_path(&dir)),
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{}-{digest}.cwasm", self.engine_key))
    }

    /// What an artifact's HMAC covers: the engine, the component and the code.
    fn mac(&self, digest: &str, artifact: &[u8]) -> ArtifactMac {
        let mut mac = ArtifactMac::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(self.engine_key.as_bytes());
        mac.update(digest.as_bytes());
        mac.update(artifact);
        mac
    }

    /// The cached artifact for the component with sha256 `digest`, if present
    /// and written by this host.
    pub fn load(&self, engine: &Engine, digest: &str) -> Option<Component> {
        let path = self.path(digest);
        let bytes = fs::read(&path).ok()?;
        let (artifact, tag) = bytes.split_at_checked(bytes.len().checked_sub(MAC_BYTES)?)?;
        if self.mac(digest, artifact).verify_slice(tag).is_err() {
            tracing::warn!(path = %path.display(), "precompiled rule in the cache fails its HMAC (planted or damaged); recompiling");
            let _ = fs::remove_file(&path);
            return None;
        }
        // SAFETY: the HMAC, under a key only this host holds, shows these bytes
        // are what `store` wrote from `Engine::precompile_component` of an
        // engine with the same compatibility hash (part of what the HMAC covers).
        match unsafe { Component::deserialize(engine, artifact) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "unusable precompiled rule in cache; recompiling");
                None
            }
        }
    }

    /// Writes an artifact atomically (temp file + rename). Failure only costs a
    /// recompile next time, so it is logged, not returned.
    pub fn store(&self, digest: &str, artifact: &[u8]) {
        let result = (|| -> std::io::Result<()> {
            let path = self.path(digest);
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            let mut file = fs::File::create(&tmp)?;
            file.write_all(artifact)?;
            file.write_all(&self.mac(digest, artifact).finalize().into_bytes())?;
            file.sync_all()?;
            fs::rename(&tmp, &path)
        })();
        if let Err(e) = result {
            tracing::warn!(dir = %self.dir.display(), error = %e, "could not cache a precompiled rule");
        }
    }
}

/// Where precompiled rules go by default: `$AUTOREPAIR_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/autorepair`, else `~/.cache/autorepair`; none otherwise
/// (never a shared directory such as /tmp by default).
pub fn default_dir() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("AUTOREPAIR_CACHE_DIR")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("autorepair")))
        .or_else(|| env("HOME").map(|d| d.join(".cache").join("autorepair")))
}

/// The key file of the cache in `dir`: beside it, not in it.
fn key_path(dir: &Path) -> PathBuf {
    let mut name = dir.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}

/// Makes `dir` exist and be this user's alone, or says why it cannot be.
fn private_dir(dir: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create it: {e}"))?;
        let meta = fs::symlink_metadata(dir).map_err(|e| e.to_string())?;
        if !meta.is_dir() {
            return Err("it is not a directory (a link?)".into());
        }
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if meta.uid() != me {
            return Err(format!(
                "it belongs to user {}, not to this one ({me})",
                meta.uid()
            ));
        }
        if meta.mode() & 0o077 != 0 {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| format!("it is open to others and cannot be closed: {e}"))?;
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create it: {e}"))
    }
}

/// The HMAC key in `path`, created owner-only on first use; a key of this
/// process alone when the file cannot be had or is not this user's alone.
fn artifact_key(path: &Path) -> [u8; 32] {
    match read_or_create_key(path) {
        Ok(key) => key,
        Err(reason) => {
            tracing::warn!(path = %path.display(), %reason, "precompiled rules are kept for this process only");
            fresh_key()
        }
    }
}

fn fresh_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    if getrandom::fill(&mut key).is_err() {
        // No randomness: a key nobody else can know is still this process's
        // address space layout and time; the cache then only saves work.
        let seed = format!("{:?}{:p}", std::time::SystemTime::now(), &key);
        key.copy_from_slice(&<Sha256 as sha2::Digest>::digest(seed.as_bytes()));
    }
    key
}

fn read_or_create_key(path: &Path) -> Result<[u8; 32], String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
        let key = fresh_key();
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(mut file) => {
                file.write_all(&key).map_err(|e| e.to_string())?;
                file.sync_all().map_err(|e| e.to_string())?;
                return Ok(key);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("cannot create it: {e}")),
        }
        let meta = fs::symlink_metadata(path).map_err(|e| e.to_string())?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        if !meta.is_file() || meta.uid() != me || meta.mode() & 0o077 != 0 {
            return Err("it is not a file of this user's alone (0600)".into());
        }
        let bytes = fs::read(path).map_err(|e| e.to_string())?;
        bytes
            .try_into()
            .map_err(|_| "it does not hold a 32-byte key".to_owned())
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Err("key files are only kept on Unix".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn engine() -> Engine {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        Engine::new(&config).unwrap()
    }

    /// A tiny component, compiled for real.
    fn artifact(engine: &Engine) -> Vec<u8> {
        engine
            .precompile_component(crate::rules::artifacts::BUNDLED[0].1)
            .unwrap()
    }

    #[test]
    fn an_artifact_this_host_wrote_loads_and_a_planted_one_does_not() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("cache");
        let engine = engine();
        let cache = ArtifactCache::new(dir.clone(), &engine).expect("a private dir");
        let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "the directory is owner-only");
        let key_mode = fs::metadata(key_path(&dir)).unwrap().permissions().mode() & 0o777;
        assert_eq!(key_mode, 0o600, "the key is owner-only");
        assert!(
            !key_path(&dir).starts_with(&dir),
            "the key is outside the cache"
        );

        let bytes = artifact(&engine);
        cache.store("abc", &bytes);
        assert!(cache.load(&engine, "abc").is_some(), "what it wrote loads");

        // A second host with the same key file trusts it too.
        let again = ArtifactCache::new(dir.clone(), &engine).unwrap();
        assert!(again.load(&engine, "abc").is_some());

        // Planted: someone with write access to the directory puts a valid
        // artifact with a checksum of their own (the old format's defence).
        let planted = {
            let mut b = bytes.clone();
            b.extend_from_slice(&<Sha256 as sha2::Digest>::digest(&bytes));
            b
        };
        fs::write(cache.path("abc"), &planted).unwrap();
        assert!(
            cache.load(&engine, "abc").is_none(),
            "a planted artifact is refused"
        );
        assert!(!cache.path("abc").exists(), "and removed");

        // Altered: one byte of a genuine one flipped.
        cache.store("abc", &bytes);
        let mut altered = fs::read(cache.path("abc")).unwrap();
        altered[100] ^= 1;
        fs::write(cache.path("abc"), &altered).unwrap();
        assert!(
            cache.load(&engine, "abc").is_none(),
            "an altered artifact is refused"
        );
    }

    #[test]
    fn a_directory_open_to_others_is_closed_and_a_foreign_key_ignored() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("shared");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        // A key someone else could read (or wrote): not used.
        fs::write(key_path(&dir), [7u8; 32]).unwrap();
        fs::set_permissions(key_path(&dir), fs::Permissions::from_mode(0o644)).unwrap();
        let engine = engine();
        let cache = ArtifactCache::new(dir.clone(), &engine).expect("ours to close");
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert_ne!(cache.key, [7u8; 32], "a readable key file is not trusted");
    }
}
