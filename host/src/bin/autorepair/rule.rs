//! `autorepair rule …`: the rule author's toolkit and the operator's view of
//! what is loaded. `test` and the key commands (`keygen`, `sign`, `verify`)
//! have modules of their own.

mod keys;
mod test;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use clap::Subcommand;

use autorepair::config::Config;
use autorepair::digest::sha256_hex;
use autorepair::model::Grant;
use autorepair::render;
use autorepair::rules::Compiler;
use autorepair::toolkit::{self, build, inspect, load, scaffold};

use crate::common::{Format, load_rules};
use crate::{Failure, bad_input};

#[derive(Subcommand)]
pub enum RuleCommand {
    /// Every loaded rule with its describe() info, trust, grants, limits and
    /// origin; then the rules refused and why.
    List {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Start a rule: a crate using the rule SDK, with unit tests, example
    /// evidence and expectations. It builds and passes its tests as generated.
    New {
        /// Lowercase letters, digits and dashes; also the crate's name.
        name: String,
        /// The directory to create the crate in (as DIR/NAME).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Build against a checkout's rule SDK (its plugins/sdk) instead of
        /// the published autorepair-rule-sdk: for developing the SDK itself.
        #[arg(long, env = "AUTOREPAIR_RULE_SDK", value_name = "PATH")]
        sdk: Option<PathBuf>,
    },
    /// Build a rule crate into a component for wasm32-wasip2 (release profile).
    /// Installs the target with rustup first if it is missing, and says so.
    Build {
        /// The crate's directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Run a rule on evidence files in the production sandbox — same limits,
    /// grants and validation — and show findings, failures, fuel, peak memory
    /// and time. With --expect it is a pass/fail check (exit 1 on a miss).
    Test {
        /// A component file, or the name of a bundled rule.
        rule: String,
        /// An evidence file, or a directory of them (*.json).
        #[arg(long, value_name = "FILE|DIR")]
        evidence: PathBuf,
        /// Expectations: {"<evidence file name>": {"findings": 1, "kind": …}}.
        #[arg(long, value_name = "FILE")]
        expect: Option<PathBuf>,
        /// Write what the rule said on each evidence file into the --expect
        /// file (made if missing; other files' expectations kept), so a real
        /// incident's evidence becomes a test: `autorepair evidence save`,
        /// then `rule test … --bless`.
        #[arg(long, requires = "expect")]
        bless: bool,
        /// What the rule may see (repeatable: metrics, reports, logs, config,
        /// changes); default: what a [[plugins]] entry gets by default (no
        /// logs, no changes), or
        /// everything for a bundled rule.
        #[arg(long = "grant", value_name = "GRANT", value_parser = parse_grant)]
        grants: Vec<Grant>,
        /// CPU budget per call; default: the config's sandbox.cpu_budget_ms.
        #[arg(long, value_name = "MS")]
        cpu_budget_ms: Option<u64>,
        /// Memory cap; default: the config's sandbox.memory_mib.
        #[arg(long, value_name = "MIB")]
        memory_mib: Option<u64>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Make a minisign key pair for signing rules: PREFIX.key (secret) and
    /// PREFIX.pub. The secret key is encrypted with $AUTOREPAIR_SIGNING_PASSWORD,
    /// or a password asked for on the terminal, unless --unencrypted.
    Keygen {
        /// Path prefix of the two files.
        #[arg(long, short, value_name = "PREFIX")]
        output: PathBuf,
        /// Leave the secret key unencrypted (CI secrets stores, tests).
        #[arg(long)]
        unencrypted: bool,
    },
    /// Sign a rule with a minisign secret key; writes RULE.minisig. The
    /// signature names the rule, its version and its interface (read from
    /// the component in the sandbox): it loads only into that rule's slot,
    /// never below the slot's floor. `minisign -S -t "rule:NAME version:V
    /// interface:autorepair:rules/rule@X.Y.Z"` makes one the host accepts too.
    Sign {
        rule: PathBuf,
        /// The secret key file (minisign format).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Last day the signature is valid (YYYY-MM-DD, UTC), kept in its
        /// signed trusted comment.
        #[arg(long, value_name = "DATE")]
        expires: Option<String>,
        /// Where to write the signature; default RULE.minisig.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Check a rule's signature against the config's [[trust.keys]] and any
    /// --key, exactly as loading does. Exit 1 if it would be refused.
    Verify {
        rule: PathBuf,
        /// The signature; default RULE.minisig.
        #[arg(long, value_name = "FILE")]
        signature: Option<PathBuf>,
        /// A public key file (or its base64 line) to trust as well; repeatable.
        #[arg(long = "key", value_name = "FILE|KEY")]
        keys: Vec<String>,
    },
    /// What a component is: the interface it targets, its imports (anything
    /// beyond what the sandbox offers is flagged), what it wants, size and
    /// digest. Exit 1 if this host would not load it.
    Inspect {
        /// A component file, or the name of a bundled rule.
        rule: String,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

impl RuleCommand {
    /// Whether the command reads the configuration: making, building and
    /// keying a rule never do (the sandbox's limits, the trust keys and the
    /// loaded rules do).
    pub fn needs_config(&self) -> bool {
        !matches!(
            self,
            RuleCommand::New { .. } | RuleCommand::Build { .. } | RuleCommand::Keygen { .. }
        )
    }
}

fn parse_grant(s: &str) -> Result<Grant, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| format!("{s:?} is not a grant (metrics, reports, logs, config, changes)"))
}

pub fn run(command: RuleCommand, config: &Config, no_cache: bool) -> Result<(), Failure> {
    match command {
        RuleCommand::List { format } => {
            let rules = load_rules(config, no_cache)?;
            match format {
                Format::Text => print!("{}", render::rules_list(&rules)),
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&load::rules_json(&rules))?
                ),
            }
            Ok(())
        }
        RuleCommand::New { name, dir, sdk } => {
            let sdk = sdk.map_or(scaffold::Sdk::Published, scaffold::Sdk::Path);
            let root = scaffold::new_rule(&name, &dir, &sdk).map_err(|e| match e {
                scaffold::ScaffoldError::Write { .. } => Failure::from(e),
                _ => bad_input(e),
            })?;
            let lib = name.replace('-', "_");
            println!("created rule {name} in {}", root.display());
            println!("next:");
            println!("  cd {}", root.display());
            println!("  cargo test                       # unit tests, natively");
            println!("  autorepair rule build            # the component");
            println!(
                "  autorepair rule test target/wasm32-wasip2/release/{lib}.wasm --evidence evidence --expect expect.json"
            );
            Ok(())
        }
        RuleCommand::Build { dir } => {
            let wasm = build::build(&dir).map_err(|e| match e {
                build::BuildError::NotACrate(_) => bad_input(e),
                other => other.into(),
            })?;
            let bytes = std::fs::read(&wasm)
                .with_context(|| format!("reading the built component {}", wasm.display()))?;
            println!("{}", wasm.display());
            eprintln!(
                "built {} ({} bytes, sha256 {})",
                wasm.display(),
                bytes.len(),
                sha256_hex(&bytes)
            );
            Ok(())
        }
        RuleCommand::Test {
            rule,
            evidence,
            expect,
            bless,
            grants,
            cpu_budget_ms,
            memory_mib,
            format,
        } => test::run(
            config,
            &rule,
            &evidence,
            expect.as_deref(),
            bless,
            grants,
            cpu_budget_ms,
            memory_mib,
            format,
        ),
        RuleCommand::Keygen {
            output,
            unencrypted,
        } => keys::keygen(&output, unencrypted),
        RuleCommand::Sign {
            rule,
            key,
            expires,
            output,
        } => {
            // The signature names what the component is: read it in the
            // sandbox, as loading will.
            let label = rule.display().to_string();
            let bytes =
                std::fs::read(&rule).map_err(|e| bad_input(anyhow!("cannot read {label}: {e}")))?;
            let compiler = Compiler::new(Arc::new(load::metered_sandbox(config, None)?), None);
            let inspection = inspect::inspect(&compiler, &bytes, &label);
            let (Some(info), Some(interface), None) = (
                inspection.describe,
                inspection.exports_rule,
                inspection.load_error.as_ref(),
            ) else {
                return Err(bad_input(anyhow!(
                    "{label} is not a rule this host can load ({}): only a rule can be signed, and its signature names it",
                    inspection
                        .load_error
                        .as_deref()
                        .unwrap_or("no rule interface")
                )));
            };
            let claims = autorepair::trust::Claims {
                rule: info.name,
                version: info.version,
                interface,
            };
            keys::sign(&rule, &key, &claims, expires.as_deref(), output)
        }
        RuleCommand::Verify {
            rule,
            signature,
            keys,
        } => keys::verify(config, &rule, signature, &keys),
        RuleCommand::Inspect { rule, format } => {
            let (_, bytes) = toolkit::rule_bytes(&rule).map_err(|e| bad_input(anyhow!(e)))?;
            let compiler = Compiler::new(Arc::new(load::metered_sandbox(config, None)?), None);
            let inspection = inspect::inspect(&compiler, &bytes, &rule);
            match format {
                Format::Text => print!("{}", inspect::render(&inspection, &rule)),
                Format::Json => println!("{}", serde_json::to_string_pretty(&inspection)?),
            }
            if inspection.acceptable() {
                Ok(())
            } else {
                Err(anyhow!("this host would not load {rule}").into())
            }
        }
    }
}
