//! Whether a rule from outside the binary may load: its bytes match a sha256 pin
//! from the configuration, or carry a valid minisign signature by a key the
//! configuration trusts. Everything else is refused with the reason, unless the
//! operator explicitly allowed unsigned rules (development only, flagged in
//! every output).
//!
//! Signatures are the standard minisign format (`minisign -S`, or
//! `autorepair rule sign`): prehashed Ed25519 over the file, plus a global
//! signature over the trusted comment. An optional `expires:YYYY-MM-DD` field in
//! the trusted comment bounds how long a signature holds, and a key may carry
//! its own `expires` date in the configuration.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::dates;
use crate::digest::sha256_hex;
use crate::model::Millis;

/// A minisign public key the operator trusts to sign rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedKey {
    /// Who holds the key; shown wherever a signed rule is.
    pub name: String,
    /// The key: the base64 line of a minisign `.pub` file (it starts with "RW").
    pub public_key: String,
    /// Signatures by this key are refused after this day (YYYY-MM-DD, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// Why a rule was allowed to load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Trust {
    /// Built into this binary.
    Bundled,
    /// The bytes match the configuration's sha256 pin.
    Pinned,
    /// A valid signature by a trusted key.
    Signed { key: String, key_id: String },
    /// Neither: loaded only because `allow_unsigned = true`.
    Unsigned,
}

impl Trust {
    pub fn is_unsigned(&self) -> bool {
        matches!(self, Trust::Unsigned)
    }
}

impl std::fmt::Display for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trust::Bundled => f.write_str("bundled"),
            Trust::Pinned => f.write_str("pinned sha256"),
            Trust::Signed { key, key_id } => write!(f, "signed by {key} ({key_id})"),
            Trust::Unsigned => f.write_str("UNSIGNED (allow_unsigned, development only)"),
        }
    }
}

/// Why a rule was refused. Every variant says what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("sha256 mismatch: the config pins {pinned}, the bytes have {actual}; refusing to load")]
    PinMismatch { pinned: String, actual: String },
    #[error(
        "neither pinned nor signed: no sha256 in the config and no signature at {looked_at}; pin it (sha256 = \"{digest}\"), sign it (`autorepair rule sign`), or set allow_unsigned = true for local development"
    )]
    Unsigned { looked_at: String, digest: String },
    #[error("the signature is malformed: {0}")]
    MalformedSignature(String),
    #[error(
        "signed by key {key_id}, which is not among the trusted keys ([[trust.keys]]); add its public key to trust it"
    )]
    UntrustedKey { key_id: String },
    #[error(
        "the signature by {key} does not match these bytes: the rule was changed after it was signed"
    )]
    Tampered { key: String },
    #[error("the signature expired on {expires} (its trusted comment says so); sign a new one")]
    SignatureExpired { expires: String },
    #[error("the key {key} expired on {expires}; re-sign with a current key or extend its expires")]
    KeyExpired { key: String, expires: String },
}

/// The key id minisign prints (`minisign -V` and `.pub` comments), from the 8
/// key-id bytes in a key or signature.
fn key_id_hex(id: &[u8]) -> String {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&id[..8]);
    format!("{:016X}", u64::from_le_bytes(bytes))
}

/// The id of a public key (base64 line), or why it is not one.
pub fn public_key_id(public_key: &str) -> Result<String, String> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(public_key.trim())
        .map_err(|e| format!("not base64: {e}"))?;
    if raw.len() != 42 || &raw[..2] != b"Ed" {
        return Err(
            "not a minisign Ed25519 public key (expected 42 bytes starting with \"Ed\")".into(),
        );
    }
    minisign_verify::PublicKey::from_base64(public_key.trim()).map_err(|e| e.to_string())?;
    Ok(key_id_hex(&raw[2..10]))
}

/// The key id a signature file names, read from its signature line.
fn signature_key_id(text: &str) -> Option<String> {
    let line = text.lines().nth(1)?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(line.trim())
        .ok()?;
    (raw.len() == 74).then(|| key_id_hex(&raw[2..10]))
}

/// The `expires:` field of a trusted comment (tab- or space-separated fields).
fn comment_expiry(trusted_comment: &str) -> Option<&str> {
    trusted_comment
        .split(['\t', ' '])
        .find_map(|field| field.strip_prefix("expires:"))
}

/// Decides whether `bytes` may load.
///
/// The pin, when there is one, decides alone: a pinned rule's signature is not
/// consulted, and a pin mismatch is never rescued by a signature. Without a pin,
/// a signature must verify under a trusted, unexpired key. `signature` is the
/// text of the `.minisig` file, if one was found; `looked_at` names where it was
/// looked for.
pub fn admit(
    bytes: &[u8],
    pin: Option<&str>,
    signature: Option<&str>,
    looked_at: &str,
    keys: &[TrustedKey],
    allow_unsigned: bool,
    now_ms: Millis,
) -> Result<Trust, Refusal> {
    if let Some(pin) = pin {
        let actual = sha256_hex(bytes);
        return if pin.eq_ignore_ascii_case(&actual) {
            Ok(Trust::Pinned)
        } else {
            Err(Refusal::PinMismatch {
                pinned: pin.to_owned(),
                actual,
            })
        };
    }
    let Some(text) = signature else {
        return if allow_unsigned {
            Ok(Trust::Unsigned)
        } else {
            Err(Refusal::Unsigned {
                looked_at: looked_at.to_owned(),
                digest: sha256_hex(bytes),
            })
        };
    };
    let sig = minisign_verify::Signature::decode(text)
        .map_err(|e| Refusal::MalformedSignature(e.to_string()))?;
    let key_id = signature_key_id(text)
        .ok_or_else(|| Refusal::MalformedSignature("no key id in the signature line".into()))?;
    let today = dates::day(now_ms);
    // Every key is tried: the same key may be listed twice while it is being
    // rotated (an expired entry beside a current one), and a key id is only a
    // hint. The first refusal is kept for when no key accepts it.
    let mut refused = None;
    for key in keys {
        let Ok(public) = minisign_verify::PublicKey::from_base64(key.public_key.trim()) else {
            continue; // Config validation reports bad keys.
        };
        let refusal = match public.verify(bytes, &sig, false) {
            Err(minisign_verify::Error::UnexpectedKeyId) => continue,
            Err(minisign_verify::Error::UnexpectedAlgorithm) => {
                return Err(Refusal::MalformedSignature(
                    "a legacy (non-prehashed) signature; sign again with a current minisign".into(),
                ));
            }
            Err(_) => Refusal::Tampered {
                key: key.name.clone(),
            },
            Ok(()) => match expiry(key, sig.trusted_comment(), &today) {
                Some(refusal) => refusal,
                None => {
                    return Ok(Trust::Signed {
                        key: key.name.clone(),
                        key_id,
                    });
                }
            },
        };
        refused.get_or_insert(refusal);
    }
    Err(refused.unwrap_or(Refusal::UntrustedKey { key_id }))
}

/// Why a valid signature by `key` no longer holds on `today`, if it does not.
fn expiry(key: &TrustedKey, trusted_comment: &str, today: &str) -> Option<Refusal> {
    if let Some(expires) = key.expires.as_deref().filter(|e| today > *e) {
        return Some(Refusal::KeyExpired {
            key: key.name.clone(),
            expires: expires.to_owned(),
        });
    }
    let expires = comment_expiry(trusted_comment)?;
    if dates::parse_day(expires).is_err() {
        return Some(Refusal::MalformedSignature(format!(
            "trusted comment has expires:{expires}, not a YYYY-MM-DD date"
        )));
    }
    (today > expires).then(|| Refusal::SignatureExpired {
        expires: expires.to_owned(),
    })
}

/// Problems with the `[trust]` keys, phrased as what to fix.
pub fn key_problems(keys: &[TrustedKey]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut names = std::collections::HashSet::new();
    for (i, key) in keys.iter().enumerate() {
        let name = format!("trust.keys[{i}] ({})", key.name);
        if key.name.trim().is_empty() {
            problems.push(format!("{name}: name must not be empty"));
        } else if !names.insert(key.name.as_str()) {
            problems.push(format!(
                "{name}: another key has this name; names say who signed"
            ));
        }
        if let Err(e) = public_key_id(&key.public_key) {
            problems.push(format!("{name}: public_key: {e}"));
        }
        if let Some(expires) = &key.expires
            && dates::parse_day(expires).is_err()
        {
            problems.push(format!("{name}: expires must be a YYYY-MM-DD date"));
        }
    }
    problems
}

/// Signing with a minisign secret key, for `autorepair rule sign` and tests.
pub mod sign {
    use std::io::Cursor;

    /// A new key pair as (public `.pub` file text, secret `.key` file text);
    /// the secret key is encrypted with `password` when one is given.
    pub fn keypair(password: Option<String>) -> Result<(String, String), String> {
        let pair = match password {
            Some(p) => minisign::KeyPair::generate_encrypted_keypair(Some(p)),
            None => minisign::KeyPair::generate_unencrypted_keypair(),
        }
        .map_err(|e| e.to_string())?;
        let public = pair.pk.to_box().map_err(|e| e.to_string())?.to_string();
        let secret = pair
            .sk
            .to_box(Some("autorepair rule signing key"))
            .map_err(|e| e.to_string())?
            .to_string();
        Ok((public, secret))
    }

    /// The `.minisig` text for `bytes`, signed with the secret key file text
    /// `secret` (decrypted with `password` if it is encrypted).
    pub fn sign(
        bytes: &[u8],
        secret: &str,
        password: Option<String>,
        trusted_comment: &str,
    ) -> Result<String, String> {
        let boxed = minisign::SecretKeyBox::from_string(secret)
            .map_err(|e| format!("not a minisign secret key: {e}"))?;
        let key = match password {
            Some(p) => boxed.into_secret_key(Some(p)),
            None => boxed.into_unencrypted_secret_key(),
        }
        .map_err(|e| format!("cannot open the secret key: {e}"))?;
        let signature = minisign::sign(
            None,
            &key,
            Cursor::new(bytes),
            Some(trusted_comment),
            Some("signature from autorepair rule sign"),
        )
        .map_err(|e| e.to_string())?;
        Ok(signature.to_string())
    }

    /// The public key's base64 line from a `.pub` file's text (or the line itself).
    pub fn public_key_line(text: &str) -> Option<&str> {
        text.lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("untrusted comment:"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_795_000_000_000; // 2026-11-18

    struct Signer {
        public: String,
        secret: String,
    }

    impl Signer {
        fn new() -> Signer {
            let (public, secret) = sign::keypair(None).unwrap();
            Signer { public, secret }
        }
        fn key(&self, name: &str) -> TrustedKey {
            TrustedKey {
                name: name.into(),
                public_key: sign::public_key_line(&self.public).unwrap().to_owned(),
                expires: None,
            }
        }
        fn sign(&self, bytes: &[u8], comment: &str) -> String {
            sign::sign(bytes, &self.secret, None, comment).unwrap()
        }
    }

    fn check(bytes: &[u8], sig: Option<&str>, keys: &[TrustedKey]) -> Result<Trust, Refusal> {
        admit(bytes, None, sig, "rule.wasm.minisig", keys, false, NOW)
    }

    #[test]
    fn a_signature_by_a_trusted_key_loads() {
        let alice = Signer::new();
        let sig = alice.sign(b"rule bytes", "timestamp:1\tfile:rule.wasm");
        let trust = check(b"rule bytes", Some(&sig), &[alice.key("alice")]).unwrap();
        assert!(
            matches!(trust, Trust::Signed { ref key, .. } if key == "alice"),
            "{trust:?}"
        );
    }

    #[test]
    fn tampered_bytes_are_refused() {
        let alice = Signer::new();
        let sig = alice.sign(b"rule bytes", "timestamp:1");
        let err = check(b"rule bytez", Some(&sig), &[alice.key("alice")]).unwrap_err();
        assert_eq!(
            err,
            Refusal::Tampered {
                key: "alice".into()
            }
        );
    }

    #[test]
    fn a_tampered_trusted_comment_is_refused() {
        let alice = Signer::new();
        let sig = alice.sign(b"rule bytes", "expires:2026-01-01");
        let forged = sig.replace("expires:2026-01-01", "expires:2099-01-01");
        let err = check(b"rule bytes", Some(&forged), &[alice.key("alice")]).unwrap_err();
        assert_eq!(
            err,
            Refusal::Tampered {
                key: "alice".into()
            }
        );
    }

    #[test]
    fn a_signature_by_an_untrusted_key_is_refused_with_its_id() {
        let (alice, mallory) = (Signer::new(), Signer::new());
        let sig = mallory.sign(b"rule bytes", "timestamp:1");
        let err = check(b"rule bytes", Some(&sig), &[alice.key("alice")]).unwrap_err();
        let Refusal::UntrustedKey { key_id } = &err else {
            panic!("{err:?}")
        };
        let mallory_id = public_key_id(&mallory.key("m").public_key).unwrap();
        assert_eq!(key_id, &mallory_id);
        assert!(err.to_string().contains(&mallory_id));
        // With no trusted keys at all, the same.
        assert!(matches!(
            check(b"rule bytes", Some(&sig), &[]),
            Err(Refusal::UntrustedKey { .. })
        ));
    }

    #[test]
    fn an_expired_signature_is_refused() {
        let alice = Signer::new();
        let keys = [alice.key("alice")];
        let old = alice.sign(b"x", "timestamp:1\texpires:2026-11-17");
        assert_eq!(
            check(b"x", Some(&old), &keys).unwrap_err(),
            Refusal::SignatureExpired {
                expires: "2026-11-17".into()
            }
        );
        let current = alice.sign(b"x", "timestamp:1\texpires:2026-11-18");
        assert!(check(b"x", Some(&current), &keys).is_ok());
        let garbled = alice.sign(b"x", "expires:soon");
        assert!(matches!(
            check(b"x", Some(&garbled), &keys),
            Err(Refusal::MalformedSignature(_))
        ));
    }

    #[test]
    fn a_rotated_key_listed_twice_still_verifies_through_its_current_entry() {
        let alice = Signer::new();
        let mut old = alice.key("alice-2025");
        old.expires = Some("2025-12-31".into());
        let sig = alice.sign(b"x", "timestamp:1");
        let trust = check(b"x", Some(&sig), &[old.clone(), alice.key("alice-2026")]).unwrap();
        assert!(matches!(trust, Trust::Signed { ref key, .. } if key == "alice-2026"));
        // Alone, the expired entry refuses it, and says why.
        assert!(matches!(
            check(b"x", Some(&sig), &[old]),
            Err(Refusal::KeyExpired { .. })
        ));
    }

    #[test]
    fn an_expired_key_is_refused() {
        let alice = Signer::new();
        let mut key = alice.key("alice");
        key.expires = Some("2026-06-30".into());
        let sig = alice.sign(b"x", "timestamp:1");
        assert_eq!(
            check(b"x", Some(&sig), &[key]).unwrap_err(),
            Refusal::KeyExpired {
                key: "alice".into(),
                expires: "2026-06-30".into()
            }
        );
    }

    #[test]
    fn malformed_signatures_are_refused() {
        let alice = Signer::new();
        let keys = [alice.key("alice")];
        for text in [
            "",
            "garbage",
            "untrusted comment: x\nnot base64!!\ntrusted comment: y\nAAAA\n",
        ] {
            assert!(
                matches!(
                    check(b"x", Some(text), &keys),
                    Err(Refusal::MalformedSignature(_))
                ),
                "{text:?}"
            );
        }
        // A truncated but otherwise real signature.
        let sig = alice.sign(b"x", "timestamp:1");
        let truncated: String = sig.lines().take(2).collect::<Vec<_>>().join("\n");
        assert!(matches!(
            check(b"x", Some(&truncated), &keys),
            Err(Refusal::MalformedSignature(_))
        ));
    }

    #[test]
    fn no_pin_and_no_signature_is_refused_unless_allowed() {
        let err = check(b"x", None, &[]).unwrap_err();
        assert!(matches!(err, Refusal::Unsigned { .. }));
        assert!(err.to_string().contains(&sha256_hex(b"x")), "{err}");
        let allowed = admit(b"x", None, None, "-", &[], true, NOW).unwrap();
        assert_eq!(allowed, Trust::Unsigned);
    }

    #[test]
    fn the_pin_decides_alone() {
        let digest = sha256_hex(b"x");
        assert_eq!(
            admit(b"x", Some(&digest), Some("garbage"), "-", &[], false, NOW),
            Ok(Trust::Pinned)
        );
        let alice = Signer::new();
        let sig = alice.sign(b"y", "timestamp:1");
        let err = admit(
            b"y",
            Some(&digest),
            Some(&sig),
            "-",
            &[alice.key("a")],
            true,
            NOW,
        );
        assert!(matches!(err, Err(Refusal::PinMismatch { .. })), "{err:?}");
    }

    #[test]
    fn key_problems_name_the_key() {
        let alice = Signer::new();
        let mut bad = alice.key("");
        bad.public_key = "RWnotakey".into();
        bad.expires = Some("tomorrow".into());
        let problems = key_problems(&[alice.key("alice"), bad]);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems.iter().all(|p| p.starts_with("trust.keys[1]")));
        let twice = key_problems(&[alice.key("alice"), alice.key("alice")]);
        assert_eq!(twice.len(), 1, "{twice:?}");
        assert!(twice[0].contains("another key has this name"));
    }

    #[test]
    fn dates() {
        let is_date = |s: &str| dates::parse_day(s).is_ok();
        assert!(is_date("2027-01-31"));
        assert!(!is_date("2027-1-31"));
        assert!(!is_date("2027-13-01"));
        assert!(!is_date("2027-02-30"), "February has no 30th");
        assert!(!is_date("2026-02-29"), "2026 is no leap year");
        assert!(is_date("2028-02-29"));
        assert_eq!(dates::day(NOW), "2026-11-18");
    }
}
