//! `autorepair config …`.

use clap::Subcommand;

use autorepair::config::Config;

use crate::Failure;

pub use autorepair::config::default_path;

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration (file values over defaults) as TOML.
    Show,
    /// Print the path of the file read when neither --config nor
    /// --environment is given ($XDG_CONFIG_HOME/autorepair/config.toml,
    /// else ~/.config/autorepair/config.toml), and whether it exists.
    Path,
}

impl ConfigCommand {
    pub fn needs_config(&self) -> bool {
        matches!(self, ConfigCommand::Show)
    }
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
        ConfigCommand::Path => {
            match default_path() {
                Some(path) if path.is_file() => println!("{}", path.display()),
                Some(path) => println!("{} (absent: the defaults apply)", path.display()),
                None => println!("none: neither XDG_CONFIG_HOME nor HOME is set"),
            }
            Ok(())
        }
    }
}
