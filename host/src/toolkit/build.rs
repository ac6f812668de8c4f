//! `autorepair rule build`: the rule crate compiled for wasm32-wasip2, release
//! profile, the target installed first if it is missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const TARGET: &str = "wasm32-wasip2";

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "{0} has no Cargo.toml: run `autorepair rule build` in a rule crate, or name its directory"
    )]
    NotACrate(PathBuf),
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("`rustup target add {TARGET}` failed; install the target by hand and retry")]
    Target,
    #[error("cargo build failed (its messages are above)")]
    Cargo,
    #[error("cargo built no .wasm: is the crate's crate-type [\"cdylib\", …]?")]
    NoArtifact,
}

/// Whether the Rust standard library for `TARGET` is installed.
pub fn target_installed() -> bool {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            PathBuf::from(String::from_utf8_lossy(&o.stdout).trim())
                .join("lib/rustlib")
                .join(TARGET)
                .exists()
        })
        .unwrap_or(false)
}

/// Installs `TARGET` with rustup, saying so on stderr.
pub fn ensure_target() -> Result<(), BuildError> {
    if target_installed() {
        return Ok(());
    }
    eprintln!("the {TARGET} target is not installed; running `rustup target add {TARGET}`");
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .map_err(|source| BuildError::Spawn {
            program: "rustup".into(),
            source,
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(BuildError::Target)
    }
}

/// Builds the crate in `dir` and returns the component's path. Cargo's own
/// output goes to stderr as it comes.
pub fn build(dir: &Path) -> Result<PathBuf, BuildError> {
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(BuildError::NotACrate(dir.to_owned()));
    }
    ensure_target()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .arg("build")
        .arg("--release")
        .args(["--target", TARGET])
        .arg("--manifest-path")
        .arg(&manifest)
        .args(["--message-format", "json-render-diagnostics"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|source| BuildError::Spawn {
            program: cargo.to_string_lossy().into_owned(),
            source,
        })?;
    if !output.status.success() {
        return Err(BuildError::Cargo);
    }
    // The component is the .wasm of a compiler-artifact message for a package
    // whose manifest is ours (dependencies build rlibs only).
    let manifest = manifest.canonicalize().unwrap_or(manifest);
    let mut wasm = None;
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let ours = msg["manifest_path"]
            .as_str()
            .is_some_and(|m| Path::new(m) == manifest);
        if !ours {
            continue;
        }
        for file in msg["filenames"].as_array().into_iter().flatten() {
            if let Some(f) = file.as_str().filter(|f| f.ends_with(".wasm")) {
                wasm = Some(PathBuf::from(f));
            }
        }
    }
    wasm.ok_or(BuildError::NoArtifact)
}
