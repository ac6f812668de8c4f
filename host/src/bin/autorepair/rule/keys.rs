//! `autorepair rule keygen`, `sign` and `verify`: minisign keys and rule
//! signatures.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};

use autorepair::config::Config;
use autorepair::pipeline::now_ms;
use autorepair::rules::sha256_hex;
use autorepair::rules::source::signature_path;
use autorepair::trust::{self, TrustedKey};

use crate::{Failure, bad_input};

/// Where `rule sign` and `rule keygen` read the secret key's password from.
const PASSWORD_ENV: &str = "AUTOREPAIR_SIGNING_PASSWORD";

fn env_password() -> Option<String> {
    std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty())
}

pub fn keygen(prefix: &Path, unencrypted: bool) -> Result<(), Failure> {
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

pub fn sign(
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

pub fn verify(
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
