//! Where third-party rules come from: a local file, or `s3://bucket/key`
//! fetched through the [`ObjectStore`] port (S3 in production). Bytes are only fetched here; whether they may load
//! is [`crate::trust::admit`]'s call, made before anything is compiled.
//!
//! A rule's signature sits next to it as `<source>.minisig` unless the config
//! names another place. A pinned S3 rule is cached by its digest, so a later
//! start (a warm Lambda, the next CLI run) loads it without touching S3.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::digest::sha256_hex;
use crate::ports::ObjectStore;

/// A place a rule or its signature is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    File(PathBuf),
    S3 { bucket: String, key: String },
}

impl Location {
    /// `s3://bucket/key`, or else a file path, made absolute against `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Location, String> {
        if let Some(rest) = text.strip_prefix("s3://") {
            return match rest.split_once('/') {
                Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => Ok(Location::S3 {
                    bucket: bucket.to_owned(),
                    key: key.to_owned(),
                }),
                _ => Err(format!("{text:?} is not s3://bucket/key")),
            };
        }
        if text.contains("://") {
            return Err(format!(
                "{text:?}: only local paths and s3://bucket/key are supported"
            ));
        }
        if text.is_empty() {
            return Err("the source is empty".into());
        }
        let path = PathBuf::from(text);
        Ok(Location::File(if path.is_relative() {
            base.join(path)
        } else {
            path
        }))
    }

    /// Where the signature of the rule at this location is looked for by default.
    pub fn default_signature(&self) -> Location {
        match self {
            Location::File(path) => Location::File(signature_path(path)),
            Location::S3 { bucket, key } => Location::S3 {
                bucket: bucket.clone(),
                key: format!("{key}.minisig"),
            },
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::File(path) => write!(f, "{}", path.display()),
            Location::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

/// A rule's bytes and, if one was found, its signature's text.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub bytes: Arc<[u8]>,
    pub signature: Option<String>,
    /// Where the signature was looked for (named in refusals).
    pub signature_at: Location,
}

/// `path` with `.minisig` appended: where a rule file's signature is by default.
pub fn signature_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".minisig");
    name.into()
}

/// A signature file's text; `None` when there is none (a refusal decides
/// what that means), an error when it exists but cannot be read.
fn read_signature_file(path: &Path) -> Result<Option<String>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Reads a rule and its signature from local files.
pub fn read_local(rule: &Path, signature: &Location) -> Result<Fetched, String> {
    let bytes = std::fs::read(rule).map_err(|e| format!("cannot read {}: {e}", rule.display()))?;
    let signature_text = match signature {
        Location::File(path) => read_signature_file(path)?,
        Location::S3 { .. } => {
            return Err(format!(
                "the signature {signature} is in S3 but the rule is a local file; keep them together"
            ));
        }
    };
    Ok(Fetched {
        bytes: Arc::from(bytes),
        signature: signature_text,
        signature_at: signature.clone(),
    })
}

/// The largest rule (or signature) fetched from S3. A Python rule is ~18 MB.
pub const MAX_FETCH_BYTES: usize = 64 << 20;

/// Fetches rules from an object store, through a cache of pinned rules kept
/// by digest.
#[derive(Clone)]
pub struct RemoteSource {
    store: Arc<dyn ObjectStore>,
    cache: Option<PathBuf>,
}

impl RemoteSource {
    /// `cache`: a directory for pinned rules' bytes (`<sha256>.wasm`); none, no cache.
    pub fn new(store: Arc<dyn ObjectStore>, cache: Option<PathBuf>) -> RemoteSource {
        RemoteSource { store, cache }
    }

    /// The cache file for a digest; none for anything but 64 hex digits, so a
    /// bad pin can never name a path outside the cache.
    fn cached(&self, digest: &str) -> Option<PathBuf> {
        let valid = digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit());
        valid.then(|| {
            self.cache
                .as_ref()
                .map(|d| d.join(format!("{}.wasm", digest.to_ascii_lowercase())))
        })?
    }

    /// The rule at `bucket/key` and its signature. A rule pinned to `pin` and
    /// already in the cache is not fetched again.
    pub async fn fetch(
        &self,
        bucket: &str,
        key: &str,
        signature: &Location,
        pin: Option<&str>,
    ) -> Result<Fetched, String> {
        if let Some(path) = pin.and_then(|p| self.cached(p))
            && let Ok(bytes) = std::fs::read(&path)
        {
            if pin.is_some_and(|p| p.eq_ignore_ascii_case(&sha256_hex(&bytes))) {
                tracing::debug!(path = %path.display(), "pinned rule from the cache");
                return Ok(Fetched {
                    bytes: Arc::from(bytes),
                    signature: None,
                    signature_at: signature.clone(),
                });
            }
            let _ = std::fs::remove_file(&path);
        }
        let bytes = self
            .get(bucket, key)
            .await?
            .ok_or_else(|| format!("s3://{bucket}/{key} does not exist"))?;
        let signature_text = match signature {
            Location::S3 { bucket, key } if pin.is_none() => self
                .get(bucket, key)
                .await?
                .map(|b| String::from_utf8_lossy(&b).into_owned()),
            Location::S3 { .. } => None,
            Location::File(path) => read_signature_file(path)?,
        };
        let digest = sha256_hex(&bytes);
        if pin.is_some_and(|p| p.eq_ignore_ascii_case(&digest))
            && let Some(path) = self.cached(&digest)
        {
            store(&path, &bytes);
        }
        Ok(Fetched {
            bytes: Arc::from(bytes),
            signature: signature_text,
            signature_at: signature.clone(),
        })
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, String> {
        self.store
            .get(bucket, key, MAX_FETCH_BYTES)
            .await
            .map_err(|e| e.to_string())
    }
}

/// Writes a cache file atomically; a failure only costs a fetch next time.
fn store(path: &Path, bytes: &[u8]) {
    let result = (|| -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        tracing::warn!(path = %path.display(), error = %e, "could not cache a fetched rule");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_and_name_their_signature() {
        let base = Path::new("/etc/autorepair");
        assert_eq!(
            Location::parse("rules/x.wasm", base).unwrap(),
            Location::File("/etc/autorepair/rules/x.wasm".into())
        );
        let s3 = Location::parse("s3://team-rules/oom/v1.wasm", base).unwrap();
        assert_eq!(s3.to_string(), "s3://team-rules/oom/v1.wasm");
        assert_eq!(
            s3.default_signature().to_string(),
            "s3://team-rules/oom/v1.wasm.minisig"
        );
        for bad in ["s3://bucket", "s3:///key", "https://example.com/x.wasm", ""] {
            assert!(Location::parse(bad, base).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_missing_signature_is_none_and_a_missing_rule_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let rule = dir.path().join("r.wasm");
        std::fs::write(&rule, b"bytes").unwrap();
        let sig = Location::File(dir.path().join("r.wasm.minisig"));
        let fetched = read_local(&rule, &sig).unwrap();
        assert_eq!(&*fetched.bytes, b"bytes");
        assert!(fetched.signature.is_none());
        std::fs::write(dir.path().join("r.wasm.minisig"), "sig").unwrap();
        assert_eq!(
            read_local(&rule, &sig).unwrap().signature.as_deref(),
            Some("sig")
        );
        let err = read_local(&dir.path().join("nope.wasm"), &sig).unwrap_err();
        assert!(err.contains("cannot read"), "{err}");
    }
}
