//! `autorepair rule keygen`, `sign` and `verify`: the command-line side of
//! [`autorepair::toolkit::keys`] — passwords asked on the terminal, exit codes
//! and what is printed.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::anyhow;

use autorepair::clock::now_ms;
use autorepair::config::Config;
use autorepair::toolkit::keys::{self, KeyError, KeyFiles, PASSWORD_ENV};

use crate::{Failure, bad_input};

/// Exit 2 for the caller's mistakes, 1 for the rest.
fn failure(e: KeyError) -> Failure {
    if e.is_bad_input() {
        bad_input(e)
    } else {
        e.into()
    }
}

/// Asks on the terminal without echoing what is typed.
fn prompt_password(prompt: &str) -> std::io::Result<String> {
    rpassword::prompt_password(prompt)
}

pub fn keygen(prefix: &Path, unencrypted: bool) -> Result<(), Failure> {
    let files = KeyFiles::new(prefix);
    files.ensure_free().map_err(failure)?;
    let password = if unencrypted {
        None
    } else {
        match keys::env_password() {
            Some(p) => Some(p),
            None if std::io::stdin().is_terminal() => {
                let first = prompt_password("password for the new secret key: ")
                    .map_err(|e| failure(KeyError::Prompt(e)))?;
                let again = prompt_password("the same password again: ")
                    .map_err(|e| failure(KeyError::Prompt(e)))?;
                if again != first {
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
    let line = files.generate(password).map_err(failure)?;
    println!("secret key: {} (keep it secret)", files.secret.display());
    println!("public key: {}", files.public.display());
    println!("trust it in the config with:\n");
    println!("[[trust.keys]]\nname = \"<who holds it>\"\npublic_key = \"{line}\"");
    Ok(())
}

pub fn sign(
    rule: &Path,
    key: &Path,
    claims: &autorepair::trust::Claims,
    expires: Option<&str>,
    output: Option<PathBuf>,
) -> Result<(), Failure> {
    let ask = || {
        if std::io::stdin().is_terminal() {
            prompt_password("password for the secret key: ").map(Some)
        } else {
            Ok(None)
        }
    };
    let written = keys::sign_file(rule, key, claims, expires, output, now_ms(), ask).map_err(
        |e| match e {
            KeyError::BadDate(_) => bad_input(anyhow!("--expires {e}")),
            e => failure(e),
        },
    )?;
    println!("{}", written.display());
    Ok(())
}

pub fn verify(
    config: &Config,
    rule: &Path,
    signature: Option<PathBuf>,
    extra: &[String],
) -> Result<(), Failure> {
    let signed = keys::read_signed(rule, signature).map_err(failure)?;
    let mut trusted = config.trust.keys.clone();
    for (i, k) in extra.iter().enumerate() {
        let name = if Path::new(k).exists() {
            format!("--key {k}")
        } else {
            format!("--key #{}", i + 1)
        };
        trusted.push(keys::public_key(k, name).map_err(|e| bad_input(anyhow!("--key {e}")))?);
    }
    let trust = signed.verify(&trusted, now_ms()).map_err(failure)?;
    println!("{}: {trust}", rule.display());
    Ok(())
}
