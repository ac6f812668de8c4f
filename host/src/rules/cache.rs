//! Compiled rules, reused: once per process in memory, and across processes as
//! precompiled artifacts on disk, keyed by the engine's compatibility hash and the
//! component's sha256 — so a host starts with every rule ready without compiling.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// A directory of precompiled components. Each file is the artifact followed by
/// the sha256 of the artifact, checked before it is trusted: deserializing is
/// only safe on bytes this host wrote.
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
    engine_key: String,
}

impl ArtifactCache {
    pub fn new(dir: PathBuf, engine: &Engine) -> ArtifactCache {
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        env!("CARGO_PKG_VERSION").hash(&mut hasher);
        ArtifactCache {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{}-{digest}.cwasm", self.engine_key))
    }

    /// The cached artifact for the component with sha256 `digest`, if present and intact.
    pub fn load(&self, engine: &Engine, digest: &str) -> Option<Component> {
        let path = self.path(digest);
        let bytes = fs::read(&path).ok()?;
        let (artifact, sum) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
        if Sha256::digest(artifact).as_slice() != sum {
            tracing::warn!(path = %path.display(), "corrupt precompiled rule in cache; recompiling");
            let _ = fs::remove_file(&path);
            return None;
        }
        // SAFETY: the bytes were written by `store` below from
        // `Engine::precompile_component` of an engine with the same compatibility
        // hash (part of the file name), and the checksum shows they are unchanged.
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
            fs::create_dir_all(&self.dir)?;
            let path = self.path(digest);
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            let mut file = fs::File::create(&tmp)?;
            file.write_all(artifact)?;
            file.write_all(&Sha256::digest(artifact))?;
            file.sync_all()?;
            fs::rename(&tmp, &path)
        })();
        if let Err(e) = result {
            tracing::warn!(dir = %self.dir.display(), error = %e, "could not cache a precompiled rule");
        }
    }
}

/// Where precompiled rules go by default: `$AUTOREPAIR_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/autorepair`, else `~/.cache/autorepair`, else the temp dir
/// (Lambda's only writable place is /tmp).
pub fn default_dir() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("AUTOREPAIR_CACHE_DIR")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("autorepair")))
        .or_else(|| env("HOME").map(|d| d.join(".cache").join("autorepair")))
        .unwrap_or_else(|| std::env::temp_dir().join("autorepair-cache"))
}
