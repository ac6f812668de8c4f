//! `autorepair config …`.

use clap::Subcommand;

use autorepair::config::Config;

use crate::Failure;

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration (file values over defaults) as TOML.
    Show,
}

pub fn run(command: ConfigCommand, config: &Config) -> Result<(), Failure> {
    match command {
        ConfigCommand::Show => {
            print!("{}", config.to_toml());
            if let Some(dir) = config.sandbox.effective_cache_dir() {
                println!("# precompiled rules are cached in {}", dir.display());
            }
            Ok(())
        }
    }
}
