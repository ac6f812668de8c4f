//! `autorepair rule inspect`: what a component is before anyone runs it — the
//! interface it exports, everything it imports (and whether the sandbox allows
//! it), what `describe` says it wants, its size and digest.

use serde::Serialize;

use crate::digest::sha256_hex;
use crate::rules::{Compiler, INTERFACE_VERSION, RuleInfo};

/// Interfaces a rule may import. The host links every one of them, the WASI
/// ones to an empty context: no args, env, files, preopens, clock-free
/// nothing-else — sockets exist as types but every network call fails.
pub const ALLOWED_IMPORTS: &[(&str, &str)] = &[
    (
        "autorepair:rules/types",
        "the data types of the rule interface",
    ),
    ("autorepair:rules/host", "log through the host (capped)"),
    (
        "autorepair:rules/statistics",
        "the incident's statistics, computed once by the host (since 0.2.1)",
    ),
    (
        "autorepair:rules/environments",
        "the log stream (execution environment) of each report and line (since 0.2.2)",
    ),
    (
        "autorepair:rules/changes",
        "the function's recent changes from CloudTrail, with the `changes` grant (since 0.2.3)",
    ),
    (
        "wasi:cli/",
        "empty args and env; stdout discarded; stderr captured for panic messages",
    ),
    ("wasi:clocks/", "clocks"),
    ("wasi:io/", "streams and polling"),
    ("wasi:random/", "random bytes"),
    (
        "wasi:filesystem/",
        "linked, but no directory is preopened: no files",
    ),
    (
        "wasi:sockets/",
        "linked, but no network is granted: every call fails",
    ),
];

#[derive(Debug, Clone, Serialize)]
pub struct Import {
    pub name: String,
    pub allowed: bool,
    /// What the sandbox gives it, or why it is refused.
    pub note: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Inspection {
    pub size_bytes: usize,
    pub sha256: String,
    /// The versioned rule interface it exports (`autorepair:rules/rule@0.2.3`).
    pub exports_rule: Option<String>,
    pub exports: Vec<String>,
    pub imports: Vec<Import>,
    /// What `describe` returned in the sandbox, when it loads.
    pub describe: Option<RuleInfo>,
    /// Why it would not load in this host, if it would not.
    pub load_error: Option<String>,
}

impl Inspection {
    /// Whether this host would load it: compiles, exports a compatible rule
    /// interface, imports only what is allowed, and describes itself validly.
    pub fn acceptable(&self) -> bool {
        self.load_error.is_none() && self.imports.iter().all(|i| i.allowed)
    }
}

pub fn inspect(compiler: &Compiler, bytes: &[u8], label: &str) -> Inspection {
    let digest = sha256_hex(bytes);
    let mut inspection = Inspection {
        size_bytes: bytes.len(),
        sha256: digest.clone(),
        exports_rule: None,
        exports: Vec::new(),
        imports: Vec::new(),
        describe: None,
        load_error: None,
    };
    let component = match compiler.component(bytes, &digest) {
        Ok((c, _)) => c,
        Err(e) => {
            inspection.load_error = Some(format!("not a loadable component: {e}"));
            return inspection;
        }
    };
    let engine = compiler.sandbox().engine();
    let ty = component.component_type();
    // The one reading of a rule's interface export, as loading makes it:
    // what `rule sign` signs is what the loader compares.
    inspection.exports_rule = crate::rules::rule_export(&component, engine);
    for (name, _) in ty.exports(engine) {
        inspection.exports.push(name.to_owned());
    }
    for (name, _) in ty.imports(engine) {
        let rule = ALLOWED_IMPORTS
            .iter()
            .find(|(prefix, _)| name.starts_with(prefix));
        inspection.imports.push(match rule {
            Some((_, note)) => Import {
                name: name.to_owned(),
                allowed: true,
                note: (*note).to_owned(),
            },
            None => Import {
                name: name.to_owned(),
                allowed: false,
                note: "not offered by the sandbox: the rule cannot be linked".to_owned(),
            },
        });
    }
    let spec = crate::rules::RuleSpec {
        origin: crate::rules::Origin::External(label.to_owned()),
        bytes: std::sync::Arc::from(bytes),
        grants: crate::model::Grants::ALL,
        limits: crate::rules::Limits::default(),
        shadow: false,
        trust: crate::trust::Trust::Unsigned,
        veto_on_failure: false,
    };
    match compiler.load(&spec) {
        Ok(rule) => inspection.describe = Some(rule.info),
        Err(failure) => inspection.load_error = Some(failure.cause.to_string()),
    }
    inspection
}

/// For people.
pub fn render(i: &Inspection, label: &str) -> String {
    use std::fmt::Write as _;
    let (major, minor, patch) = INTERFACE_VERSION;
    let mut out = String::new();
    let _ = writeln!(out, "{label}");
    let _ = writeln!(
        out,
        "  size {} bytes ({:.1} KiB)  sha256 {}",
        i.size_bytes,
        i.size_bytes as f64 / 1024.0,
        i.sha256
    );
    let _ = writeln!(
        out,
        "  targets: {}  (this host runs autorepair:rules@{major}.{minor}.{patch}, world rule-plugin; it loads {})",
        i.exports_rule
            .as_deref()
            .unwrap_or("no autorepair:rules/rule export"),
        crate::rules::LINES
            .iter()
            .map(|(major, minor)| format!("{major}.{minor}.x"))
            .collect::<Vec<_>>()
            .join(" and ")
    );
    if let Some(d) = &i.describe {
        let _ = writeln!(out, "  describe: {} {} — {}", d.name, d.version, d.summary);
        let _ = writeln!(out, "  wants: {}", d.wants);
    }
    let _ = writeln!(out, "  imports ({}):", i.imports.len());
    for import in &i.imports {
        let mark = if import.allowed { "ok " } else { "NO " };
        let _ = writeln!(out, "    {mark} {:<44} {}", import.name, import.note);
    }
    match &i.load_error {
        Some(e) => {
            let _ = writeln!(out, "  would NOT load: {e}");
        }
        None if i.acceptable() => {
            let _ = writeln!(out, "  loads in this host's sandbox");
        }
        None => {}
    }
    out
}
