//! The CLI's reference, made from the parser itself: docs/cli.md (every
//! command's `--help`, checked against the file by a test) and shell
//! completions (`autorepair completions <shell>`).

use clap::CommandFactory;

use crate::Cli;

/// docs/cli.md: each command's long help, depth first, in a fenced block
/// (made by the test that checks the file).
#[cfg(test)]
fn markdown() -> String {
    // A fixed width, so the file does not depend on the terminal the test
    // runs in.
    let mut cli = Cli::command().term_width(100);
    cli.build();
    let mut out = String::from(
        "# The `autorepair` command line\n\n\
         Every command's `--help`, as the binary prints it. Generated from the \
         parser: after changing a command, run\n\
         `AUTOREPAIR_BLESS=1 cargo test -p autorepair --bin autorepair reference` \
         to rewrite this file (a test fails while they differ).\n\n\
         Shell completions: `autorepair completions bash|zsh|fish|elvish|powershell`.\n",
    );
    section(&mut out, &mut cli, "autorepair");
    out
}

#[cfg(test)]
fn section(out: &mut String, cmd: &mut clap::Command, path: &str) {
    let help = cmd.render_long_help().to_string();
    out.push_str(&format!(
        "\n## `{path}`\n\n```text\n{}\n```\n",
        help.trim_end()
    ));
    let names: Vec<String> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        .map(|s| s.get_name().to_owned())
        .collect();
    for name in names {
        if let Some(sub) = cmd.find_subcommand_mut(&name) {
            section(out, sub, &format!("{path} {name}"));
        }
    }
}

/// Writes the completion script for `shell` to `out` (stdout for
/// `autorepair completions`).
pub fn completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    clap_complete::generate(shell, &mut Cli::command(), "autorepair", out);
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    fn docs_cli() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/cli.md")
    }

    #[test]
    fn reference_docs_cli_md_is_the_help_the_binary_prints() {
        let made = super::markdown();
        if std::env::var_os("AUTOREPAIR_BLESS").is_some() {
            std::fs::write(docs_cli(), &made).unwrap();
        }
        let kept = std::fs::read_to_string(docs_cli()).unwrap_or_default();
        assert!(
            kept == made,
            "docs/cli.md differs from the parser's --help; rewrite it with \
             AUTOREPAIR_BLESS=1 cargo test -p autorepair --bin autorepair reference"
        );
    }

    #[test]
    fn reference_covers_every_command_and_completions_name_them() {
        let made = super::markdown();
        for command in [
            "run",
            "rule sign",
            "sweep",
            "approvals",
            "config show",
            "completions",
        ] {
            assert!(
                made.contains(&format!("## `autorepair {command}`")),
                "{command} missing"
            );
        }
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
        ] {
            let mut script = Vec::new();
            super::completions(shell, &mut script);
            let script = String::from_utf8(script).unwrap();
            assert!(
                script.contains("recommendations"),
                "{shell}: no subcommands"
            );
        }
    }
}
