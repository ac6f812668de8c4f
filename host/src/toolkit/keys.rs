//! Keys and signatures for sharing rules, behind `autorepair rule keygen`,
//! `sign` and `verify`: minisign key pairs (the secret key written owner-only,
//! encrypted with a password unless asked not to), `.minisig` signatures with
//! a trusted comment naming the file, its digest and an optional expiry, and
//! the same check loading does. The minisign primitives and the trust decision
//! live in [`crate::trust`]; asking for a password on a terminal is the
//! caller's part.

use std::io;
use std::path::{Path, PathBuf};

use crate::digest::sha256_hex;
use crate::model::Millis;
use crate::rules::source::signature_path;
use crate::trust::{self, Claims, Refusal, Trust, TrustedKey};

/// Where the secret key's password is read from before anyone is asked.
pub const PASSWORD_ENV: &str = "AUTOREPAIR_SIGNING_PASSWORD";

/// What went wrong with a key or a signature. [`KeyError::is_bad_input`] says
/// whether the caller's input was at fault.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{} exists; not overwriting a key", .0.display())]
    Exists(PathBuf),
    #[error("{0}")]
    Generate(String),
    #[error("creating {}", path.display())]
    Create { path: PathBuf, source: io::Error },
    #[error("writing {}", path.display())]
    Write { path: PathBuf, source: io::Error },
    /// An expiry that is not a YYYY-MM-DD date.
    #[error("{0:?} is not a day that exists, written YYYY-MM-DD (e.g. 2027-02-28)")]
    BadDate(String),
    #[error("cannot read {}: {error}", path.display())]
    ReadRule { path: PathBuf, error: io::Error },
    #[error("cannot read the secret key {}: {error}", path.display())]
    ReadSecretKey { path: PathBuf, error: io::Error },
    /// The key is encrypted (or not a key) and no password was to be had.
    #[error("{reason} (an encrypted key needs {PASSWORD_ENV} or a terminal to ask on)")]
    NeedsPassword { reason: String },
    #[error("reading the password")]
    Prompt(#[source] io::Error),
    /// The secret key did not open with the password (or is not a key).
    #[error("{0}")]
    Open(String),
    /// Neither a `.pub` file nor a public key's base64 line.
    #[error("{key}: not a minisign public key: {reason}")]
    NotAPublicKey { key: String, reason: String },
    /// No signature to check: the rule would be refused.
    #[error("{}: would be refused: cannot read the signature {}: {error}", rule.display(), signature.display())]
    ReadSignature {
        rule: PathBuf,
        signature: PathBuf,
        error: io::Error,
    },
    /// Loading would refuse the rule.
    #[error("{}: {refusal}", rule.display())]
    Refused { rule: PathBuf, refusal: Refusal },
}

impl KeyError {
    /// Whether the caller's input was at fault (a missing or wrong file,
    /// date, key or password), rather than the machine or the rule's trust.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            KeyError::Exists(_)
                | KeyError::BadDate(_)
                | KeyError::ReadRule { .. }
                | KeyError::ReadSecretKey { .. }
                | KeyError::NeedsPassword { .. }
                | KeyError::Open(_)
                | KeyError::NotAPublicKey { .. }
        )
    }
}

/// The password in [`PASSWORD_ENV`], if set and not empty.
pub fn env_password() -> Option<String> {
    std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty())
}

/// The two files of a key pair: `PREFIX.key` (secret) and `PREFIX.pub`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFiles {
    pub secret: PathBuf,
    pub public: PathBuf,
}

impl KeyFiles {
    pub fn new(prefix: &Path) -> KeyFiles {
        let with = |ext: &str| {
            let mut name = prefix.as_os_str().to_owned();
            name.push(ext);
            PathBuf::from(name)
        };
        KeyFiles {
            secret: with(".key"),
            public: with(".pub"),
        }
    }

    /// Refuses when either file exists: a key is never overwritten.
    pub fn ensure_free(&self) -> Result<(), KeyError> {
        for path in [&self.secret, &self.public] {
            if path.exists() {
                return Err(KeyError::Exists(path.clone()));
            }
        }
        Ok(())
    }

    /// Makes a new key pair, encrypted with `password` when there is one, and
    /// writes it (the secret key readable by its owner only). Returns the
    /// public key's base64 line, for `[[trust.keys]]`.
    pub fn generate(&self, password: Option<String>) -> Result<String, KeyError> {
        self.ensure_free()?;
        let (public, secret) = trust::sign::keypair(password).map_err(KeyError::Generate)?;
        if let Some(dir) = self.secret.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| KeyError::Create {
                path: dir.to_owned(),
                source,
            })?;
        }
        write_secret(&self.secret, &secret)?;
        std::fs::write(&self.public, &public).map_err(|source| KeyError::Write {
            path: self.public.clone(),
            source,
        })?;
        Ok(trust::sign::public_key_line(&public)
            .unwrap_or_default()
            .to_owned())
    }
}

/// Writes a new file readable and writable by its owner only (on Unix);
/// refuses to replace an existing one.
#[cfg(unix)]
pub fn write_secret(path: &Path, text: &str) -> Result<(), KeyError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| KeyError::Create {
            path: path.to_owned(),
            source,
        })?;
    file.write_all(text.as_bytes())
        .map_err(|source| KeyError::Write {
            path: path.to_owned(),
            source,
        })
}

/// Writes a new file (no owner-only permissions off Unix).
#[cfg(not(unix))]
pub fn write_secret(path: &Path, text: &str) -> Result<(), KeyError> {
    std::fs::write(path, text).map_err(|source| KeyError::Write {
        path: path.to_owned(),
        source,
    })
}

/// The trusted comment of a signature made at `now_ms` (minisign's own
/// comments carry Unix seconds): the file's name, its digest, the rule it is
/// (name, version, interface: what binds the signature to a slot) and the
/// expiry.
pub fn trusted_comment(
    file: &str,
    bytes: &[u8],
    claims: &Claims,
    expires: Option<&str>,
    now_ms: Millis,
) -> String {
    let now = now_ms / 1000;
    let mut comment = format!(
        "timestamp:{now}\tfile:{file}\tsha256:{}\t{}",
        sha256_hex(bytes),
        claims.comment_fields()
    );
    if let Some(date) = expires {
        comment.push_str(&format!("\texpires:{date}"));
    }
    comment
}

/// Signs the rule file `rule` — the rule `claims` names — with the secret
/// key file `key`, valid until `expires` (YYYY-MM-DD, UTC) when given, and
/// writes the signature to `output` (default `RULE.minisig`), which it
/// returns.
///
/// An unencrypted key needs no password. For an encrypted one the password
/// comes from [`PASSWORD_ENV`], else from `ask` (a terminal prompt, say),
/// which returns `None` when there is no one to ask.
pub fn sign_file(
    rule: &Path,
    key: &Path,
    claims: &Claims,
    expires: Option<&str>,
    output: Option<PathBuf>,
    now_ms: Millis,
    ask: impl FnOnce() -> io::Result<Option<String>>,
) -> Result<PathBuf, KeyError> {
    if let Some(date) = expires
        && crate::dates::parse_day(date).is_err()
    {
        return Err(KeyError::BadDate(date.to_owned()));
    }
    let bytes = std::fs::read(rule).map_err(|error| KeyError::ReadRule {
        path: rule.to_owned(),
        error,
    })?;
    let secret = std::fs::read_to_string(key).map_err(|error| KeyError::ReadSecretKey {
        path: key.to_owned(),
        error,
    })?;
    let file = rule
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let comment = trusted_comment(&file, &bytes, claims, expires, now_ms);
    let signature = match trust::sign::sign(&bytes, &secret, None, &comment) {
        Ok(signature) => signature,
        Err(unencrypted) => {
            let password = match env_password() {
                Some(p) => p,
                None => ask()
                    .map_err(KeyError::Prompt)?
                    .ok_or(KeyError::NeedsPassword {
                        reason: unencrypted,
                    })?,
            };
            trust::sign::sign(&bytes, &secret, Some(password), &comment).map_err(KeyError::Open)?
        }
    };
    let output = output.unwrap_or_else(|| signature_path(rule));
    std::fs::write(&output, signature).map_err(|source| KeyError::Write {
        path: output.clone(),
        source,
    })?;
    Ok(output)
}

/// A public key to trust, named `name`: `key` is a `.pub` file, or the key's
/// base64 line itself.
pub fn public_key(key: &str, name: String) -> Result<TrustedKey, KeyError> {
    let text = std::fs::read_to_string(key).unwrap_or_else(|_| key.to_owned());
    let line = trust::sign::public_key_line(&text)
        .unwrap_or_default()
        .to_owned();
    trust::public_key_id(&line).map_err(|reason| KeyError::NotAPublicKey {
        key: key.to_owned(),
        reason,
    })?;
    Ok(TrustedKey {
        name,
        public_key: line,
        expires: None,
    })
}

/// A rule file and its signature, read: what [`SignedRule::verify`] checks.
#[derive(Debug, Clone)]
pub struct SignedRule {
    pub rule: PathBuf,
    pub signature: PathBuf,
    bytes: Vec<u8>,
    text: String,
}

/// Reads the rule file `rule` and its signature (default `RULE.minisig`).
/// No signature is a refusal like any other, not bad input.
pub fn read_signed(rule: &Path, signature: Option<PathBuf>) -> Result<SignedRule, KeyError> {
    let bytes = std::fs::read(rule).map_err(|error| KeyError::ReadRule {
        path: rule.to_owned(),
        error,
    })?;
    let signature = signature.unwrap_or_else(|| signature_path(rule));
    let text = std::fs::read_to_string(&signature).map_err(|error| KeyError::ReadSignature {
        rule: rule.to_owned(),
        signature: signature.clone(),
        error,
    })?;
    Ok(SignedRule {
        rule: rule.to_owned(),
        signature,
        bytes,
        text,
    })
}

impl SignedRule {
    /// Checks the signature against `keys` at `now_ms`, exactly as loading an
    /// unpinned rule does: why it may load, or why it would be refused.
    pub fn verify(&self, keys: &[TrustedKey], now_ms: Millis) -> Result<Trust, KeyError> {
        let looked_at = self.signature.display().to_string();
        let admission = trust::Admission {
            pin: None,
            signature: Some(&self.text),
            looked_at: &looked_at,
            keys,
            allow_unsigned: false,
            slot: None,
            now_ms,
        };
        trust::admit(&self.bytes, &admission).map_err(|refusal| KeyError::Refused {
            rule: self.rule.clone(),
            refusal,
        })
    }
}

/// [`read_signed`], then [`SignedRule::verify`].
pub fn verify_file(
    rule: &Path,
    signature: Option<PathBuf>,
    keys: &[TrustedKey],
    now_ms: Millis,
) -> Result<Trust, KeyError> {
    read_signed(rule, signature)?.verify(keys, now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_795_000_000_000; // 2026-11-18

    fn never() -> io::Result<Option<String>> {
        Ok(None)
    }

    fn claims() -> Claims {
        Claims {
            rule: "rule".into(),
            version: "1.0.0".into(),
            interface: "autorepair:rules/rule@0.3.0".into(),
        }
    }

    /// A rule file and an unencrypted key pair `team` in a new directory.
    fn setup() -> (tempfile::TempDir, PathBuf, KeyFiles, TrustedKey) {
        let dir = tempfile::tempdir().unwrap();
        let rule = dir.path().join("rule.wasm");
        std::fs::write(&rule, b"\0asm not really").unwrap();
        let files = KeyFiles::new(&dir.path().join("keys/team"));
        let line = files.generate(None).unwrap();
        let key = public_key(&line, "team".into()).unwrap();
        (dir, rule, files, key)
    }

    #[test]
    fn keygen_sign_verify_round_trip() {
        let (_dir, rule, files, key) = setup();
        let signature = sign_file(&rule, &files.secret, &claims(), None, None, NOW, never).unwrap();
        assert_eq!(signature, signature_path(&rule));
        let text = std::fs::read_to_string(&signature).unwrap();
        assert!(text.contains("file:rule.wasm\tsha256:"), "{text}");
        let trust = verify_file(&rule, None, std::slice::from_ref(&key), NOW).unwrap();
        assert!(
            matches!(&trust, Trust::Signed { key, .. } if key == "team"),
            "{trust}"
        );
        // The same key read from its .pub file.
        let from_file = public_key(files.public.to_str().unwrap(), "file".into()).unwrap();
        assert_eq!(from_file.public_key, key.public_key);
    }

    #[test]
    fn a_tampered_rule_fails_verify() {
        let (_dir, rule, files, key) = setup();
        sign_file(&rule, &files.secret, &claims(), None, None, NOW, never).unwrap();
        std::fs::write(&rule, b"\0asm changed").unwrap();
        let err = verify_file(&rule, None, &[key], NOW).unwrap_err();
        assert!(
            matches!(
                err,
                KeyError::Refused {
                    refusal: Refusal::Tampered { .. },
                    ..
                }
            ),
            "{err}"
        );
        assert!(!err.is_bad_input());
    }

    #[test]
    fn an_untrusted_key_or_no_signature_is_refused() {
        let (dir, rule, files, _) = setup();
        let err = verify_file(&rule, None, &[], NOW).unwrap_err();
        assert!(matches!(err, KeyError::ReadSignature { .. }), "{err}");
        assert!(err.to_string().contains("would be refused"), "{err}");
        sign_file(&rule, &files.secret, &claims(), None, None, NOW, never).unwrap();
        let other = KeyFiles::new(&dir.path().join("other"));
        let other = public_key(&other.generate(None).unwrap(), "other".into()).unwrap();
        let err = verify_file(&rule, None, &[other], NOW).unwrap_err();
        assert!(
            matches!(
                err,
                KeyError::Refused {
                    refusal: Refusal::UntrustedKey { .. },
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn an_expired_signature_is_refused() {
        let (_dir, rule, files, key) = setup();
        sign_file(
            &rule,
            &files.secret,
            &claims(),
            Some("2026-01-31"),
            None,
            NOW,
            never,
        )
        .unwrap();
        let err = verify_file(&rule, None, &[key], NOW).unwrap_err();
        assert!(
            matches!(
                err,
                KeyError::Refused {
                    refusal: Refusal::SignatureExpired { .. },
                    ..
                }
            ),
            "{err}"
        );
        for date in ["31/01/2026", "2027-02-30", "2026-02-29"] {
            let bad = sign_file(
                &rule,
                &files.secret,
                &claims(),
                Some(date),
                None,
                NOW,
                never,
            );
            assert!(matches!(bad, Err(KeyError::BadDate(_))), "{date}: {bad:?}");
        }
    }

    #[test]
    fn an_encrypted_key_needs_the_right_password() {
        // The environment is read first; these tests must not depend on it.
        if env_password().is_some() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let rule = dir.path().join("rule.wasm");
        std::fs::write(&rule, b"\0asm").unwrap();
        let files = KeyFiles::new(&dir.path().join("team"));
        let line = files.generate(Some("correct horse".into())).unwrap();
        let key = public_key(&line, "team".into()).unwrap();

        let none = sign_file(&rule, &files.secret, &claims(), None, None, NOW, never).unwrap_err();
        assert!(matches!(none, KeyError::NeedsPassword { .. }), "{none}");
        assert!(none.to_string().contains(PASSWORD_ENV), "{none}");
        assert!(none.is_bad_input());

        let wrong = sign_file(&rule, &files.secret, &claims(), None, None, NOW, || {
            Ok(Some("wrong".into()))
        })
        .unwrap_err();
        assert!(matches!(wrong, KeyError::Open(_)), "{wrong}");
        assert!(wrong.is_bad_input());
        assert!(!signature_path(&rule).exists());

        let prompt = sign_file(&rule, &files.secret, &claims(), None, None, NOW, || {
            Err(io::Error::other("no tty"))
        })
        .unwrap_err();
        assert!(matches!(prompt, KeyError::Prompt(_)), "{prompt}");

        sign_file(&rule, &files.secret, &claims(), None, None, NOW, || {
            Ok(Some("correct horse".into()))
        })
        .unwrap();
        verify_file(&rule, None, &[key], NOW).unwrap();
    }

    #[test]
    fn keys_are_never_overwritten_and_the_secret_is_private() {
        let (_dir, _rule, files, _) = setup();
        let again = files.generate(None).unwrap_err();
        assert!(
            matches!(&again, KeyError::Exists(p) if *p == files.secret),
            "{again}"
        );
        assert!(again.is_bad_input());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&files.secret)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_public_key_must_be_one() {
        let err = public_key("not-a-key", "x".into()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("not-a-key: not a minisign public key: "),
            "{err}"
        );
        assert!(err.is_bad_input());
    }
}
