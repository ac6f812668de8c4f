//! `autorepair rule new`: a rule crate that builds and passes its tests as
//! generated — the SDK as a dependency, a rule with unit tests, two example
//! evidence files and the expectations `autorepair rule test` checks.

use std::path::{Path, PathBuf};

use crate::rules::validate;

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("{0}")]
    Name(String),
    #[error("{0} already exists and is not empty; choose another name or --dir")]
    Exists(PathBuf),
    #[error(
        "no rule SDK at {0}: --sdk (or $AUTOREPAIR_RULE_SDK) names a checkout's plugins/sdk; leave it out to use the published SDK"
    )]
    NoSdk(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The published rule SDK a new rule depends on: the version of
/// plugins/sdk, whose minor version is the interface's (a test holds the
/// two equal).
pub const SDK_VERSION: &str = "0.2.3";

/// Where a new rule's SDK comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sdk {
    /// `autorepair-rule-sdk = "SDK_VERSION"` from crates.io: no clone of
    /// autorepair needed.
    Published,
    /// A checkout's plugins/sdk, for developing the SDK itself.
    Path(PathBuf),
}

/// Writes the crate `name` into `dir/name` and returns that directory.
pub fn new_rule(name: &str, dir: &Path, sdk: &Sdk) -> Result<PathBuf, ScaffoldError> {
    validate::rule_name(name).map_err(ScaffoldError::Name)?;
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(ScaffoldError::Name(format!(
            "{name:?} must start with a letter: it is also the crate's name"
        )));
    }
    let sdk = match sdk {
        Sdk::Published => None,
        Sdk::Path(path) => Some(
            path.canonicalize()
                .ok()
                .filter(|p| p.join("Cargo.toml").is_file())
                .ok_or_else(|| ScaffoldError::NoSdk(path.to_owned()))?,
        ),
    };
    let root = dir.join(name);
    if root.exists() && std::fs::read_dir(&root).is_ok_and(|mut d| d.next().is_some()) {
        return Err(ScaffoldError::Exists(root));
    }
    let files = [
        ("Cargo.toml", cargo_toml(name, sdk.as_deref())),
        ("src/lib.rs", lib_rs(name)),
        ("evidence/pressure.json", evidence(name, 512, 497)),
        ("evidence/healthy.json", evidence(name, 512, 180)),
        ("expect.json", EXPECT.to_owned()),
        ("README.md", readme(name)),
        (".gitignore", "/target\n".to_owned()),
    ];
    for (file, text) in files {
        let path = root.join(file);
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(path.parent().expect("a file under root"))?;
            std::fs::write(&path, text)
        };
        write().map_err(|source| ScaffoldError::Write {
            path: path.clone(),
            source,
        })?;
    }
    Ok(root)
}

fn cargo_toml(name: &str, sdk: Option<&Path>) -> String {
    let dependency = match sdk {
        None => format!(
            "autorepair-rule-sdk = \"{SDK_VERSION}\"\n\
             # To build against a checkout of the SDK instead, uncomment (or make\n\
             # the crate with `autorepair rule new --sdk PATH`):\n\
             # [patch.crates-io]\n\
             # autorepair-rule-sdk = {{ path = \"/path/to/autorepair/plugins/sdk\" }}\n"
        ),
        Some(path) => format!(
            "autorepair-rule-sdk = {{ path = {:?}, version = \"{SDK_VERSION}\" }}\n",
            path.display().to_string()
        ),
    };
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
# cdylib: the wasm32-wasip2 component; rlib: native unit tests.
crate-type = ["cdylib", "rlib"]

[dependencies]
{dependency}
[profile.release]
# Small, fast components: a rule runs on every incident.
opt-level = 3
lto = true
codegen-units = 1
strip = true
panic = "abort"

# A crate of its own, not part of any workspace it happens to sit in.
[workspace]
"#
    )
}

fn lib_rs(name: &str) -> String {
    LIB_RS.replace("{name}", name)
}

const LIB_RS: &str = r#"//! {name}: an autorepair rule.
//!
//! `cargo test` runs the tests below natively; `autorepair rule build` makes the
//! component; `autorepair rule test target/…/*.wasm --evidence evidence --expect
//! expect.json` runs it in the production sandbox. See docs/writing-rules.md.
use autorepair_rule_sdk::prelude::*;

/// Peak memory at or above this share of the configured memory is pressure.
const PRESSURE: f64 = 0.9;

pub struct ThisRule;

impl Rule for ThisRule {
    fn describe() -> RuleInfo {
        info(
            "{name}",
            "0.1.0",
            "Invocations that use nearly all of their memory",
            // Ask only for what the rule reads: operators grant at most this.
            Wants::REPORTS | Wants::CONFIG,
        )
    }

    fn evaluate(evidence: Evidence) -> Result<Vec<Finding>, String> {
        let s = Stats::incident(&evidence);
        if s.invocations == 0 || s.memory_mb == 0 {
            return Ok(vec![]);
        }
        let used = f64::from(s.peak_used_mb) / f64::from(s.memory_mb);
        if used < PRESSURE {
            return Ok(vec![]);
        }
        let target = with_margin(s.memory_mb, f64::from(s.peak_used_mb), 0.3);
        let mut f = finding(
            FindingKind::MemoryPressure,
            0.7,
            format!(
                "peak memory used {} MB of {} MB ({:.0}%)",
                s.peak_used_mb,
                s.memory_mb,
                used * 100.0
            ),
            Recommendation::SetMemory(target),
        );
        f.evidence
            .push(format!("{} invocations in the window", s.invocations));
        log::info(&format!("recommending {target} MB"));
        Ok(vec![f])
    }
}

export_rule!(ThisRule);

#[cfg(test)]
mod tests {
    use super::*;
    use autorepair_rule_sdk::testing::{EvidenceBuilder, report};

    #[test]
    fn memory_near_the_limit_asks_for_more() {
        let e = EvidenceBuilder::new(512)
            .reports(10, report(512, 497, InvocationStatus::Success))
            .build();
        let findings = ThisRule::evaluate(e).unwrap();
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].kind, FindingKind::MemoryPressure);
        assert_eq!(findings[0].recommendation, Recommendation::SetMemory(704));
    }

    #[test]
    fn comfortable_memory_yields_nothing() {
        let e = EvidenceBuilder::new(512)
            .reports(10, report(512, 180, InvocationStatus::Success))
            .build();
        assert!(ThisRule::evaluate(e).unwrap().is_empty());
    }
}
"#;

const EXPECT: &str = r#"{
  "pressure.json": {
    "findings": 1,
    "kind": "memory-pressure",
    "recommendation": "set_memory",
    "memory_mb": 704,
    "min_confidence": 0.7
  },
  "healthy.json": { "findings": 0 }
}
"#;

/// An evidence file in the host's format: ten invocations peaking at `used_mb`.
fn evidence(name: &str, memory_mb: u32, used_mb: u32) -> String {
    let start: i64 = 1_767_225_600_000;
    let reports: Vec<serde_json::Value> = (0..10)
        .map(|i| {
            serde_json::json!({
                "request_id": format!("00000000-0000-4000-8000-{i:012}"),
                "timestamp_ms": start + i * 60_000,
                "duration_ms": 120.0,
                "billed_duration_ms": 121.0,
                "memory_size_mb": memory_mb,
                "max_memory_used_mb": used_mb - (9 - i as u32),
                "status": "success",
            })
        })
        .collect();
    let doc = serde_json::json!({
        "function": {
            "name": format!("{name}-example"),
            "arn": format!("arn:aws:lambda:eu-west-1:123456789012:function:{name}-example"),
            "runtime": "python3.12",
            "architecture": "arm64",
            "memory_mb": memory_mb,
            "timeout_s": 10,
        },
        "alarm": {
            "name": format!("{name}-example-duration"),
            "metric": "Duration",
            "state": "ALARM",
            "reason": "example",
        },
        "window": { "start_ms": start, "end_ms": start + 600_000 },
        "reports": reports,
    });
    serde_json::to_string_pretty(&doc).expect("a JSON value") + "\n"
}

fn readme(name: &str) -> String {
    format!(
        "# {name}\n\nAn autorepair rule plugin. The walk-through is autorepair's `docs/writing-rules.md`.\n\n\
```sh\n\
cargo test                                   # the rule's unit tests, natively\n\
autorepair rule build                        # the component, for wasm32-wasip2\n\
autorepair rule test target/wasm32-wasip2/release/{lib}.wasm \\\n    --evidence evidence --expect expect.json   # in the production sandbox\n\
autorepair rule inspect target/wasm32-wasip2/release/{lib}.wasm\n\
autorepair rule sign target/wasm32-wasip2/release/{lib}.wasm --key ~/.autorepair/rules.key\n\
```\n",
        lib = name.replace('-', "_")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_evidence_is_valid_host_evidence() {
        let text = evidence("x", 512, 497);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let e = crate::diagnosis::evidence_from_value(Path::new("pressure.json"), value).unwrap();
        assert_eq!(e.reports.len(), 10);
        assert_eq!(
            e.reports.iter().map(|r| r.max_memory_used_mb).max(),
            Some(497)
        );
        let expect: crate::toolkit::rule_test::Expectations = serde_json::from_str(EXPECT).unwrap();
        assert_eq!(expect.len(), 2);
    }

    /// The published SDK a new rule names is the one in this repository.
    #[test]
    fn the_sdk_version_is_the_sdk_crates() {
        let manifest = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/sdk/Cargo.toml"),
        )
        .unwrap();
        let version = manifest
            .lines()
            .find_map(|l| l.strip_prefix("version = \""))
            .and_then(|v| v.strip_suffix('"'))
            .unwrap();
        assert_eq!(version, SDK_VERSION);
        // Its minor version is the interface's.
        let wit =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit/rules.wit"))
                .unwrap();
        assert!(
            wit.contains(&format!("package autorepair:rules@{SDK_VERSION};")),
            "wit/rules.wit is not autorepair:rules@{SDK_VERSION}"
        );
        // The SDK crate carries its own copy (a published crate carries its
        // files): the same interface, byte for byte.
        let copy = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/sdk/wit/rules.wit"),
        )
        .unwrap();
        assert!(
            copy == wit,
            "plugins/sdk/wit/rules.wit differs from wit/rules.wit: copy it over"
        );
    }

    #[test]
    fn a_new_rule_names_the_published_sdk_or_a_checkouts() {
        let dir = tempfile::tempdir().unwrap();
        let root = new_rule("published", dir.path(), &Sdk::Published).unwrap();
        let cargo = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        assert!(
            cargo.contains(&format!("\nautorepair-rule-sdk = \"{SDK_VERSION}\"\n")),
            "{cargo}"
        );
        assert!(
            !cargo
                .lines()
                .any(|l| !l.starts_with('#') && l.contains("path =")),
            "{cargo}"
        );
        let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/sdk");
        let root = new_rule("local", dir.path(), &Sdk::Path(sdk.clone())).unwrap();
        let cargo = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        let path = sdk.canonicalize().unwrap().display().to_string();
        assert!(cargo.contains(&format!("path = {path:?}")), "{cargo}");
        // Both are valid manifests.
        for name in ["published", "local"] {
            let text = std::fs::read_to_string(dir.path().join(name).join("Cargo.toml")).unwrap();
            let parsed: toml::Table = text.parse().unwrap();
            assert!(
                parsed["dependencies"]["autorepair-rule-sdk"].is_str() == (name == "published")
            );
        }
    }

    #[test]
    fn refuses_bad_names_a_missing_sdk_and_a_full_directory() {
        let dir = tempfile::tempdir().unwrap();
        let sdk = Sdk::Published;
        for bad in ["Bad_Name", "9lives"] {
            assert!(matches!(
                new_rule(bad, dir.path(), &sdk),
                Err(ScaffoldError::Name(_))
            ));
        }
        assert!(matches!(
            new_rule("ok", dir.path(), &Sdk::Path(dir.path().join("nope"))),
            Err(ScaffoldError::NoSdk(_))
        ));
        let root = new_rule("ok", dir.path(), &sdk).unwrap();
        assert!(root.join("src/lib.rs").is_file());
        let cargo = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        assert!(cargo.contains("name = \"ok\""), "{cargo}");
        assert!(matches!(
            new_rule("ok", dir.path(), &sdk),
            Err(ScaffoldError::Exists(_))
        ));
    }
}
