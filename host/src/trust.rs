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
//!
//! A signature is bound to a rule, not only to bytes: the trusted comment
//! names the rule, its version and the interface it exports
//! (`rule:headroom\tversion:1.2.0\tinterface:autorepair:rules/rule@0.3.0`).
//! A signed artifact loads only into the slot of the rule it names, never
//! below the slot's floor (its `min_version`, and the last version the host
//! accepted there), and only if the component then describes itself as what
//! was signed. A sha256 pin still decides alone: pinning is how an operator
//! loads an older version on purpose.

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
    /// A valid signature by a trusted key, for `rule` at `version`.
    Signed {
        key: String,
        key_id: String,
        /// The rule the signature names.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        rule: String,
        /// The version the signature names.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        version: String,
        /// The rule interface the signature names.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        interface: String,
    },
    /// Neither: loaded only because `allow_unsigned = true`.
    Unsigned,
}

impl Trust {
    pub fn is_unsigned(&self) -> bool {
        matches!(self, Trust::Unsigned)
    }

    /// Whether a loaded component is what its signature says: named
    /// `name` at `version`, exporting `interface`. Anything not signed
    /// claims nothing, and is not refused here.
    pub fn matches(&self, name: &str, version: &str, interface: &str) -> Result<(), String> {
        let Trust::Signed {
            rule,
            version: signed,
            interface: signed_interface,
            ..
        } = self
        else {
            return Ok(());
        };
        if rule.is_empty() {
            return Ok(());
        }
        if rule != name
            || signed != version
            || (!signed_interface.is_empty() && signed_interface != interface)
        {
            return Err(format!(
                "signed as {rule} {signed} ({signed_interface}), but the component is {name} {version} ({interface}): refusing"
            ));
        }
        Ok(())
    }
}

impl std::fmt::Display for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trust::Bundled => f.write_str("bundled"),
            Trust::Pinned => f.write_str("pinned sha256"),
            Trust::Signed {
                key,
                key_id,
                rule,
                version,
                ..
            } if !rule.is_empty() => write!(f, "signed by {key} ({key_id}) as {rule} {version}"),
            Trust::Signed { key, key_id, .. } => write!(f, "signed by {key} ({key_id})"),
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
    #[error(
        "the signature names no rule (made before signatures were bound to rules): sign it again with `autorepair rule sign`"
    )]
    NamesNoRule,
    #[error(
        "signed as rule {signed:?}, but loaded into the slot of {slot:?}: a signature holds only for the rule it names (set `rule` in [[plugins]] if the file is named otherwise)"
    )]
    OtherRule { signed: String, slot: String },
    #[error(
        "version {version} is older than {floor}, the slot's floor (its min_version, or the last version this host accepted): refusing a downgrade; pin its sha256 to load it on purpose"
    )]
    Downgrade { version: String, floor: String },
}

/// The version the host last accepted in each slot, by rule name: the
/// floor a signed artifact may not go below.
pub type Floors = std::collections::BTreeMap<String, String>;

/// Where a rule is loaded: the rule the slot holds and the oldest version
/// it may hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Slot {
    /// The rule's name (`describe().name`).
    pub rule: String,
    /// No version older than this loads (by signature; a pin may).
    pub floor: Option<String>,
}

/// What a signature's trusted comment claims of the artifact.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Claims {
    /// The rule's name.
    pub rule: String,
    /// Its version.
    pub version: String,
    /// The rule interface it exports (`autorepair:rules/rule@0.3.0`).
    pub interface: String,
}

impl Claims {
    /// The fields of a trusted comment that carry them.
    pub fn comment_fields(&self) -> String {
        format!(
            "rule:{}\tversion:{}\tinterface:{}",
            self.rule, self.version, self.interface
        )
    }

    /// The claims a trusted comment makes (tab- or space-separated fields, so
    /// that `minisign -t "rule:… version:… interface:…"` signs them too);
    /// `None` without a `rule:` field.
    pub fn of_comment(trusted_comment: &str) -> Option<Claims> {
        let field = |name: &str| {
            trusted_comment
                .split(['\t', ' '])
                .find_map(|f| f.strip_prefix(name)?.strip_prefix(':'))
                .map(str::to_owned)
        };
        Some(Claims {
            rule: field("rule")?,
            version: field("version").unwrap_or_default(),
            interface: field("interface").unwrap_or_default(),
        })
    }
}

/// A version as numbers (`1.2.0` → `[1, 2, 0]`); a pre-release or build
/// suffix is ignored. `None` when it does not start with a number.
pub fn version_key(version: &str) -> Option<Vec<u64>> {
    let core = version.trim().split(['-', '+']).next()?;
    core.split('.').map(|n| n.parse().ok()).collect()
}

/// Whether `version` is older than `floor` (either unreadable: older, so
/// that a floor never gives way to a version it cannot read).
pub fn older_than(version: &str, floor: &str) -> bool {
    match (version_key(version), version_key(floor)) {
        (Some(v), Some(f)) => v < f,
        _ => true,
    }
}

/// What [`admit`] checks the bytes against.
#[derive(Debug, Clone, Copy)]
pub struct Admission<'a> {
    /// The configuration's sha256 pin: decides alone when given.
    pub pin: Option<&'a str>,
    /// The text of the `.minisig` file, if one was found.
    pub signature: Option<&'a str>,
    /// Where the signature was looked for (for the refusal).
    pub looked_at: &'a str,
    /// The keys the operator trusts.
    pub keys: &'a [TrustedKey],
    /// Load unsigned rules (development only).
    pub allow_unsigned: bool,
    /// The slot it is loaded into; `None` when only the signature is being
    /// checked (`autorepair rule verify`).
    pub slot: Option<&'a Slot>,
    /// Now, for expiry.
    pub now_ms: Millis,
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
/// a signature must verify under a trusted, unexpired key, and name the
/// slot's rule at a version no older than the slot's floor.
pub fn admit(bytes: &[u8], admission: &Admission<'_>) -> Result<Trust, Refusal> {
    let Admission {
        pin,
        signature,
        looked_at,
        keys,
        allow_unsigned,
        slot,
        now_ms,
    } = *admission;
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
                    // The comment is signed too (the global signature):
                    // its claims are the signer's.
                    let claims = Claims::of_comment(sig.trusted_comment());
                    if let Some(slot) = slot {
                        bound_to(claims.as_ref(), slot)?;
                    }
                    let claims = claims.unwrap_or_default();
                    return Ok(Trust::Signed {
                        key: key.name.clone(),
                        key_id,
                        rule: claims.rule,
                        version: claims.version,
                        interface: claims.interface,
                    });
                }
            },
        };
        refused.get_or_insert(refusal);
    }
    Err(refused.unwrap_or(Refusal::UntrustedKey { key_id }))
}

/// A valid signature's claims against the slot it is loaded into.
fn bound_to(claims: Option<&Claims>, slot: &Slot) -> Result<(), Refusal> {
    let claims = claims.ok_or(Refusal::NamesNoRule)?;
    if claims.rule != slot.rule {
        return Err(Refusal::OtherRule {
            signed: claims.rule.clone(),
            slot: slot.rule.clone(),
        });
    }
    if let Some(floor) = &slot.floor
        && older_than(&claims.version, floor)
    {
        return Err(Refusal::Downgrade {
            version: claims.version.clone(),
            floor: floor.clone(),
        });
    }
    Ok(())
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

    #[allow(clippy::too_many_arguments)]
    fn admit_as(
        bytes: &[u8],
        pin: Option<&str>,
        signature: Option<&str>,
        keys: &[TrustedKey],
        allow_unsigned: bool,
        slot: Option<&Slot>,
    ) -> Result<Trust, Refusal> {
        let admission = Admission {
            pin,
            signature,
            looked_at: "rule.wasm.minisig",
            keys,
            allow_unsigned,
            slot,
            now_ms: NOW,
        };
        admit(bytes, &admission)
    }

    fn check(bytes: &[u8], sig: Option<&str>, keys: &[TrustedKey]) -> Result<Trust, Refusal> {
        admit_as(bytes, None, sig, keys, false, None)
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
        let allowed = admit_as(b"x", None, None, &[], true, None).unwrap();
        assert_eq!(allowed, Trust::Unsigned);
    }

    #[test]
    fn the_pin_decides_alone() {
        let digest = sha256_hex(b"x");
        assert_eq!(
            admit_as(b"x", Some(&digest), Some("garbage"), &[], false, None),
            Ok(Trust::Pinned)
        );
        let alice = Signer::new();
        let sig = alice.sign(b"y", "timestamp:1");
        let err = admit_as(
            b"y",
            Some(&digest),
            Some(&sig),
            &[alice.key("a")],
            true,
            None,
        );
        assert!(matches!(err, Err(Refusal::PinMismatch { .. })), "{err:?}");
    }

    /// A signature holds for the rule it names, at no version below the
    /// slot's floor; a pin still loads an older one on purpose.
    #[test]
    fn a_signature_is_bound_to_its_rule_and_never_downgrades() {
        let alice = Signer::new();
        let keys = [alice.key("alice")];
        let claims = |rule: &str, version: &str| Claims {
            rule: rule.into(),
            version: version.into(),
            interface: "autorepair:rules/rule@0.3.0".into(),
        };
        let signed =
            |c: &Claims| alice.sign(b"wasm", &format!("timestamp:1\t{}", c.comment_fields()));
        let slot = |rule: &str, floor: Option<&str>| Slot {
            rule: rule.into(),
            floor: floor.map(str::to_owned),
        };
        let headroom_12 = signed(&claims("headroom", "1.2.0"));
        let ok = admit_as(
            b"wasm",
            None,
            Some(&headroom_12),
            &keys,
            false,
            Some(&slot("headroom", Some("1.2.0"))),
        );
        assert!(
            matches!(&ok, Ok(Trust::Signed { rule, version, .. }) if rule == "headroom" && version == "1.2.0"),
            "{ok:?}"
        );
        // Another rule's signed artifact at this slot.
        assert!(matches!(
            admit_as(
                b"wasm",
                None,
                Some(&headroom_12),
                &keys,
                false,
                Some(&slot("oom-guard", None))
            ),
            Err(Refusal::OtherRule { .. })
        ));
        // An older signed version of this rule.
        let headroom_11 = signed(&claims("headroom", "1.1.9"));
        assert!(matches!(
            admit_as(
                b"wasm",
                None,
                Some(&headroom_11),
                &keys,
                false,
                Some(&slot("headroom", Some("1.2.0")))
            ),
            Err(Refusal::Downgrade { .. })
        ));
        // A signature made before signatures named their rule.
        let bare = alice.sign(b"wasm", "timestamp:1\tfile:headroom.wasm");
        assert_eq!(
            admit_as(
                b"wasm",
                None,
                Some(&bare),
                &keys,
                false,
                Some(&slot("headroom", None))
            ),
            Err(Refusal::NamesNoRule)
        );
        // The operator pins the old one on purpose: it loads.
        let digest = sha256_hex(b"wasm");
        assert_eq!(
            admit_as(
                b"wasm",
                Some(&digest),
                Some(&headroom_11),
                &keys,
                false,
                Some(&slot("headroom", Some("1.2.0")))
            ),
            Ok(Trust::Pinned)
        );
        // A claimed rule cannot be smuggled in a field of another name.
        assert_eq!(Claims::of_comment("timestamp:1\tfile:rule:headroom"), None);
    }

    #[test]
    fn versions_compare_as_numbers() {
        assert!(older_than("1.9.0", "1.10.0"));
        assert!(!older_than("1.10.0", "1.9.0"));
        assert!(!older_than("2.0.0", "2.0.0"));
        assert!(!older_than("2.0.0-rc.1", "2.0.0"));
        assert!(older_than("garbage", "1.0.0"), "unreadable is older");
        assert!(older_than("1.0.0", "garbage"));
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
