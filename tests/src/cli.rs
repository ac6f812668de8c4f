//! The one way the tests (and the demo) run the `autorepair` binary as a
//! child process.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::{Command, Output};

/// Where the `autorepair` binary is: `$AUTOREPAIR_BIN`, else next to the
/// running executable (the demo, in `target/<profile>`), else one level up
/// from a test's `target/<profile>/deps`. `Err` is where it was looked for.
pub fn locate_bin() -> Result<PathBuf, PathBuf> {
    if let Some(path) = std::env::var_os("AUTOREPAIR_BIN") {
        return Ok(path.into());
    }
    let exe = std::env::current_exe().expect("the running executable's own path");
    let beside = exe.with_file_name("autorepair");
    if beside.exists() {
        return Ok(beside);
    }
    // target/<profile>/deps/<test>-… → target/<profile>/autorepair
    match exe.parent().filter(|dir| dir.ends_with("deps")) {
        Some(deps) => {
            let bin = deps.parent().unwrap_or(deps).join("autorepair");
            if bin.exists() { Ok(bin) } else { Err(bin) }
        }
        None => Err(beside),
    }
}

/// The `autorepair` binary the tests run: `$AUTOREPAIR_BIN`, or the one built
/// next to the test executable; panics saying how to build it.
pub fn autorepair_bin() -> PathBuf {
    locate_bin().unwrap_or_else(|bin| {
        panic!(
            "{} not built: run `cargo build -p autorepair` (tests/test.sh does)",
            bin.display()
        )
    })
}

/// `autorepair ARGS`, ready to run, with none of the caller's settings that
/// would change what it does (`AUTOREPAIR_CONFIG`, `AUTOREPAIR_ENVIRONMENT`,
/// `AUTOREPAIR_SIGNING_PASSWORD`, a default configuration file): a test sets what it wants on the command.
pub fn autorepair_command<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(autorepair_bin());
    command
        .args(args)
        .env_remove("AUTOREPAIR_CONFIG")
        .env_remove("AUTOREPAIR_ENVIRONMENT")
        .env_remove("AUTOREPAIR_SIGNING_PASSWORD")
        // No default configuration file: a developer's own never leaks in.
        .env(
            "XDG_CONFIG_HOME",
            std::env::temp_dir().join("autorepair-e2e-no-config"),
        );
    command
}

/// Runs `command` to the end and returns what it did.
pub fn output(command: &mut Command) -> Output {
    command.output().expect("run autorepair")
}

/// A finished command's status, stdout and stderr, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
