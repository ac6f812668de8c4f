//! `autorepair rule …`: the rule author's toolkit and the operator's view of
//! what is loaded.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow};
use clap::Subcommand;

use autorepair::clock::now_ms;
use autorepair::config::Config;
use autorepair::digest::sha256_hex;
use autorepair::model::{Grant, Grants};
use autorepair::render;
use autorepair::rules::source::signature_path;
use autorepair::rules::{Compiler, Limits, Origin, RuleSet, RuleSpec, Sandbox};
use autorepair::toolkit::{self, build, check, inspect, scaffold};
use autorepair::trust::{self, Trust, TrustedKey};

use super::{Failure, Format, bad_input};

/// Where `rule sign` and `rule keygen` read the secret key's password from.
const PASSWORD_ENV: &str = "AUTOREPAIR_SIGNING_PASSWORD";

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
        /// The rule SDK (autorepair's plugins/sdk); default: the one this binary
        /// was built from, or $AUTOREPAIR_RULE_SDK.
        #[arg(long)]
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
        /// What the rule may see (repeatable: metrics, reports, logs, config);
        /// default: what a [[plugins]] entry gets by default (no logs), or
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
    /// standard `minisign -S` makes signatures the host accepts too.
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

fn parse_grant(s: &str) -> Result<Grant, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| format!("{s:?} is not a grant (metrics, reports, logs, config)"))
}

pub fn run(
    command: RuleCommand,
    config: &Config,
    load_rules: impl Fn() -> Result<RuleSet, Failure>,
) -> Result<(), Failure> {
    match command {
        RuleCommand::List { format } => {
            let rules = load_rules()?;
            match format {
                Format::Text => print!("{}", render::rules_list(&rules)),
                Format::Json => println!("{}", serde_json::to_string_pretty(&rules_json(&rules))?),
            }
            Ok(())
        }
        RuleCommand::New { name, dir, sdk } => {
            let sdk = sdk.unwrap_or_else(scaffold::default_sdk);
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
            grants,
            cpu_budget_ms,
            memory_mib,
            format,
        } => test(
            config,
            &rule,
            &evidence,
            expect.as_deref(),
            grants,
            cpu_budget_ms,
            memory_mib,
            format,
        ),
        RuleCommand::Keygen {
            output,
            unencrypted,
        } => keygen(&output, unencrypted),
        RuleCommand::Sign {
            rule,
            key,
            expires,
            output,
        } => sign(&rule, &key, expires.as_deref(), output),
        RuleCommand::Verify {
            rule,
            signature,
            keys,
        } => verify(config, &rule, signature, &keys),
        RuleCommand::Inspect { rule, format } => {
            let (_, bytes) = toolkit::rule_bytes(&rule).map_err(|e| bad_input(anyhow!(e)))?;
            let compiler = Compiler::new(Arc::new(sandbox(config, None)?), None);
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

fn sandbox(config: &Config, memory_mib: Option<u64>) -> Result<Sandbox, Failure> {
    let mib = memory_mib.map_or(config.max_memory_mib(), |m| m.max(config.max_memory_mib()));
    Ok(Sandbox::metered(mib).context("starting the rule sandbox")?)
}

#[allow(clippy::too_many_arguments)]
fn test(
    config: &Config,
    rule: &str,
    evidence: &Path,
    expect: Option<&Path>,
    grants: Vec<Grant>,
    cpu_budget_ms: Option<u64>,
    memory_mib: Option<u64>,
    format: Format,
) -> Result<(), Failure> {
    let (origin, bytes) = toolkit::rule_bytes(rule).map_err(|e| bad_input(anyhow!(e)))?;
    let files = check::evidence_files(evidence).map_err(|e| bad_input(anyhow!(e)))?;
    let expectations = expect
        .map(check::load_expectations)
        .transpose()
        .map_err(|e| bad_input(anyhow!(e)))?;
    // The production view of this rule: a [[plugins]] entry for the same bytes
    // gives its grants and limits; else a new plugin's defaults.
    let digest = sha256_hex(&bytes);
    let here = std::fs::canonicalize(rule).ok();
    let entry = config.plugins.iter().find(|p| {
        p.sha256
            .as_deref()
            .is_some_and(|pin| pin.eq_ignore_ascii_case(&digest))
            || match p.location() {
                Ok(autorepair::rules::source::Location::File(path)) => {
                    here.is_some() && std::fs::canonicalize(path).ok() == here
                }
                Ok(remote) => remote.to_string() == rule,
                Err(_) => false,
            }
    });
    let default_grants = match (&origin, entry) {
        (_, Some(p)) => p.grants,
        (Origin::Bundled, None) => config
            .bundled
            .grants
            .get(rule)
            .copied()
            .unwrap_or(Grants::ALL),
        (Origin::External(_), None) => autorepair::config::default_plugin_grants(),
    };
    let grants = if grants.is_empty() {
        default_grants
    } else {
        grants.into_iter().collect()
    };
    let defaults = entry.map_or(config.sandbox.limits(), |p| config.plugin_limits(p));
    let limits = Limits {
        cpu_budget_ms: cpu_budget_ms.unwrap_or(defaults.cpu_budget_ms),
        memory_mib: memory_mib.unwrap_or(defaults.memory_mib),
    };
    let compiler = Compiler::new(Arc::new(sandbox(config, Some(limits.memory_mib))?), None);
    let spec = RuleSpec {
        origin,
        bytes,
        grants,
        limits,
        shadow: false,
        trust: Trust::Unsigned,
    };
    let rules = RuleSet::load(&compiler, &[spec]);
    let outcome = check::run(&rules, &files, expectations.as_ref()).map_err(|e| match e {
        check::CheckError::Evidence(_) => bad_input(e),
        check::CheckError::NotLoaded(_) => e.into(),
    })?;
    match format {
        Format::Text => {
            let loaded = &rules.rules()[0];
            print!(
                "{}",
                render::rule_test(
                    &outcome,
                    loaded.effective_grants(),
                    limits,
                    expect.is_some()
                )
            );
        }
        Format::Json => println!("{}", serde_json::to_string_pretty(&outcome)?),
    }
    if outcome.passed() {
        Ok(())
    } else {
        Err(anyhow!("expectations not met").into())
    }
}

fn env_password() -> Option<String> {
    std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty())
}

fn keygen(prefix: &Path, unencrypted: bool) -> Result<(), Failure> {
    let with = |ext: &str| {
        let mut name = prefix.as_os_str().to_owned();
        name.push(ext);
        PathBuf::from(name)
    };
    let (secret_path, public_path) = (with(".key"), with(".pub"));
    for path in [&secret_path, &public_path] {
        if path.exists() {
            return Err(bad_input(anyhow!(
                "{} exists; not overwriting a key",
                path.display()
            )));
        }
    }
    let password = if unencrypted {
        None
    } else {
        match env_password() {
            Some(p) => Some(p),
            None if std::io::stdin().is_terminal() => {
                let first = prompt_password("password for the new secret key: ")?;
                if prompt_password("the same password again: ")? != first {
                    return Err(bad_input(anyhow!(
                        "the two passwords differ; no key written"
                    )));
                }
                Some(first)
            }
            None => {
                return Err(bad_input(anyhow!(
                    "set {PASSWORD_ENV} (or run on a terminal) to encrypt the key, or pass --unencrypted"
                )));
            }
        }
    };
    let (public, secret) = trust::sign::keypair(password).map_err(|e| anyhow!(e))?;
    if let Some(dir) = secret_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_secret(&secret_path, &secret)?;
    std::fs::write(&public_path, &public)
        .with_context(|| format!("writing {}", public_path.display()))?;
    let line = trust::sign::public_key_line(&public).unwrap_or_default();
    println!("secret key: {} (keep it secret)", secret_path.display());
    println!("public key: {}", public_path.display());
    println!("trust it in the config with:\n");
    println!("[[trust.keys]]\nname = \"<who holds it>\"\npublic_key = \"{line}\"");
    Ok(())
}

#[cfg(unix)]
fn write_secret(path: &Path, text: &str) -> Result<(), Failure> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(not(unix))]
fn write_secret(path: &Path, text: &str) -> Result<(), Failure> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Asks on the terminal without echoing what is typed.
fn prompt_password(prompt: &str) -> Result<String, Failure> {
    Ok(rpassword::prompt_password(prompt).context("reading the password")?)
}

fn sign(
    rule: &Path,
    key: &Path,
    expires: Option<&str>,
    output: Option<PathBuf>,
) -> Result<(), Failure> {
    if let Some(date) = expires
        && !trust::is_date(date)
    {
        return Err(bad_input(anyhow!(
            "--expires {date:?} is not a YYYY-MM-DD date"
        )));
    }
    let bytes = std::fs::read(rule)
        .map_err(|e| bad_input(anyhow!("cannot read {}: {e}", rule.display())))?;
    let secret = std::fs::read_to_string(key)
        .map_err(|e| bad_input(anyhow!("cannot read the secret key {}: {e}", key.display())))?;
    let file = rule
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // minisign's own trusted comments carry Unix seconds.
    let now = now_ms() / 1000;
    let mut comment = format!(
        "timestamp:{now}\tfile:{file}\tsha256:{}",
        sha256_hex(&bytes)
    );
    if let Some(date) = expires {
        comment.push_str(&format!("\texpires:{date}"));
    }
    // An unencrypted key needs no password; an encrypted one gets it from the
    // environment, else from the terminal.
    let signature = trust::sign::sign(&bytes, &secret, None, &comment).or_else(|unencrypted| {
        let password = match env_password() {
            Some(p) => p,
            None if std::io::stdin().is_terminal() => {
                prompt_password("password for the secret key: ")?
            }
            None => {
                return Err(bad_input(anyhow!(
                    "{unencrypted} (an encrypted key needs {PASSWORD_ENV} or a terminal to ask on)"
                )));
            }
        };
        trust::sign::sign(&bytes, &secret, Some(password), &comment)
            .map_err(|e| bad_input(anyhow!(e)))
    })?;
    let output = output.unwrap_or_else(|| signature_path(rule));
    std::fs::write(&output, signature).with_context(|| format!("writing {}", output.display()))?;
    println!("{}", output.display());
    Ok(())
}

fn verify(
    config: &Config,
    rule: &Path,
    signature: Option<PathBuf>,
    extra: &[String],
) -> Result<(), Failure> {
    let bytes = std::fs::read(rule)
        .map_err(|e| bad_input(anyhow!("cannot read {}: {e}", rule.display())))?;
    let signature = signature.unwrap_or_else(|| signature_path(rule));
    // No signature is a refusal like any other (exit 1), not bad input.
    let text = std::fs::read_to_string(&signature).map_err(|e| {
        Failure::from(anyhow!(
            "{}: would be refused: cannot read the signature {}: {e}",
            rule.display(),
            signature.display()
        ))
    })?;
    let mut keys = config.trust.keys.clone();
    for (i, k) in extra.iter().enumerate() {
        let text = std::fs::read_to_string(k).unwrap_or_else(|_| k.clone());
        let line = trust::sign::public_key_line(&text)
            .unwrap_or_default()
            .to_owned();
        trust::public_key_id(&line)
            .map_err(|e| bad_input(anyhow!("--key {k}: not a minisign public key: {e}")))?;
        keys.push(TrustedKey {
            name: format!(
                "--key {}",
                if Path::new(k).exists() {
                    k.clone()
                } else {
                    format!("#{}", i + 1)
                }
            ),
            public_key: line,
            expires: None,
        });
    }
    match trust::verify(
        &bytes,
        None,
        Some(&text),
        &signature.display().to_string(),
        &keys,
        false,
        now_ms(),
    ) {
        Ok(trust) => {
            println!("{}: {trust}", rule.display());
            Ok(())
        }
        Err(refusal) => Err(anyhow!("{}: {refusal}", rule.display()).into()),
    }
}

fn rules_json(rules: &RuleSet) -> serde_json::Value {
    let loaded: Vec<_> = rules
        .rules()
        .iter()
        .map(|r| {
            serde_json::json!({
                "name": r.info.name,
                "version": r.info.version,
                "summary": r.info.summary,
                "origin": r.origin.to_string(),
                "sha256": r.digest,
                "wants": r.info.wants,
                "granted": r.grants,
                "sees": r.effective_grants(),
                "cpu_budget_ms": r.limits.cpu_budget_ms,
                "memory_mib": r.limits.memory_mib,
                "shadow": r.shadow,
                "trust": r.trust,
                "unsigned": r.trust.is_unsigned(),
            })
        })
        .collect();
    serde_json::json!({ "rules": loaded, "not_loaded": rules.load_failures() })
}
