//! Loading: the file or the deployment's text, parsed and checked, and the
//! rules it names, trusted or refused.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Config, ConfigError, RuleConfig};
use crate::clock::now_ms;
use crate::model::{FailureCause, Grants, Millis, RuleFailure};
use crate::rules::source::{self, Fetched, Location};
use crate::rules::{self, Origin, RuleSpec};
use crate::trust::{self, Floors, Trust};

/// The configuration file read when none is named:
/// `$XDG_CONFIG_HOME/autorepair/config.toml`, else
/// `~/.config/autorepair/config.toml` (the XDG base directory rules; a
/// relative `XDG_CONFIG_HOME` is ignored, as they say).
pub fn default_path() -> Option<PathBuf> {
    default_path_from(
        std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from),
        std::env::var_os("HOME").map(PathBuf::from),
    )
}

fn default_path_from(xdg: Option<PathBuf>, home: Option<PathBuf>) -> Option<PathBuf> {
    xdg.filter(|d| d.is_absolute())
        .or_else(|| {
            home.filter(|h| !h.as_os_str().is_empty())
                .map(|h| h.join(".config"))
        })
        .map(|d| d.join("autorepair").join("config.toml"))
}

impl Config {
    /// Reads and checks a config file; `None` gives the defaults.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        for plugin in &mut config.plugins {
            // Relative files are relative to the config file; made absolute
            // here so the rest never needs to know where the config was.
            for place in std::iter::once(&mut plugin.source).chain(plugin.signature.as_mut()) {
                if let Ok(Location::File(file)) = Location::parse(place, base) {
                    *place = file.to_string_lossy().into_owned();
                }
            }
        }
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                problems: problems.join("; "),
            });
        }
        Ok(config)
    }

    /// The Lambda host's configuration: the text of `AUTOREPAIR_CONFIG_TOML`
    /// (what the deployment template writes) when set, else the file named by
    /// `AUTOREPAIR_CONFIG`, else the defaults.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_sources(
            std::env::var("AUTOREPAIR_CONFIG_TOML").ok(),
            std::env::var_os("AUTOREPAIR_CONFIG").map(PathBuf::from),
        )
    }

    pub(super) fn from_sources(
        text: Option<String>,
        file: Option<PathBuf>,
    ) -> Result<Config, ConfigError> {
        match text.filter(|t| !t.trim().is_empty()) {
            Some(text) => Config::from_toml(&text, Path::new("$AUTOREPAIR_CONFIG_TOML")),
            None => Config::load(file.as_deref()),
        }
    }

    /// Parses and checks configuration text (e.g. from `AUTOREPAIR_CONFIG_TOML`,
    /// which the deployment template fills from its parameters); `origin` names
    /// it in errors.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_owned(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(ConfigError::Invalid {
                path: origin.to_owned(),
                problems: problems.join("; "),
            });
        }
        Ok(config)
    }

    /// The rules to load, reading third-party rules from local files (an S3
    /// source is refused here: fetch it with [`Config::rule_specs_from`]).
    pub fn rule_specs(&self) -> (Vec<RuleSpec>, Vec<RuleFailure>) {
        let fetched = self.plugins.iter().map(read_local).collect();
        self.rule_specs_from(fetched, &Floors::new(), now_ms())
    }

    /// The rules to load: enabled bundled rules, then every configured plugin
    /// whose bytes (`fetched[i]` for `plugins[i]`) pass [`trust::admit`] at
    /// `now_ms`. A plugin refused here is returned as a failure, with the reason;
    /// the rest still load. Nothing refused is even compiled: compiling hostile
    /// input can be made arbitrarily slow.
    ///
    /// `floors` are the versions the host last accepted per slot (the rule's
    /// name): a signed version below its slot's floor, or below the
    /// plugin's `min_version`, is a downgrade and refused.
    pub fn rule_specs_from(
        &self,
        fetched: Vec<Result<Fetched, String>>,
        floors: &Floors,
        now_ms: Millis,
    ) -> (Vec<RuleSpec>, Vec<RuleFailure>) {
        let mut specs = Vec::new();
        let mut failures = Vec::new();
        for (name, bytes) in rules::artifacts::BUNDLED {
            if self.bundled.disabled.iter().any(|d| d == name) {
                continue;
            }
            let shadow = self.bundled.shadow.iter().any(|s| s == name);
            specs.push(RuleSpec {
                origin: Origin::Bundled,
                bytes: Arc::from(*bytes),
                grants: self
                    .bundled
                    .grants
                    .get(*name)
                    .copied()
                    .unwrap_or(Grants::ALL),
                limits: self.sandbox.limits(),
                shadow,
                trust: Trust::Bundled,
                veto_on_failure: !shadow && self.bundled.veto_on_failure.iter().any(|v| v == name),
            });
        }
        for (p, fetched) in self.plugins.iter().zip(fetched) {
            let rule = p.slot_rule();
            let floor = [p.min_version.as_ref(), floors.get(&rule)]
                .into_iter()
                .flatten()
                .max_by(|a, b| trust::version_key(a).cmp(&trust::version_key(b)))
                .cloned();
            let slot = trust::Slot { rule, floor };
            let verified = fetched.map_err(FailureCause::Load).and_then(|f| {
                let looked_at = f.signature_at.to_string();
                let admission = trust::Admission {
                    pin: p.sha256.as_deref(),
                    signature: f.signature.as_deref(),
                    looked_at: &looked_at,
                    keys: &self.trust.keys,
                    allow_unsigned: p.allow_unsigned,
                    slot: Some(&slot),
                    now_ms,
                };
                trust::admit(&f.bytes, &admission)
                    .map(|trust| (f.bytes, trust))
                    .map_err(|refusal| FailureCause::Untrusted(refusal.to_string()))
            });
            match verified {
                Ok((bytes, trust)) => {
                    if trust.is_unsigned() {
                        tracing::warn!(source = %p.source, "loading an UNSIGNED rule (allow_unsigned): development only");
                    }
                    specs.push(RuleSpec {
                        origin: Origin::External(p.source.clone()),
                        bytes,
                        grants: p.grants,
                        limits: self.rule_limits(p),
                        shadow: p.shadow,
                        trust,
                        veto_on_failure: p.veto_on_failure && !p.shadow,
                    });
                }
                Err(cause) => failures.push(RuleFailure {
                    rule: p.source.clone(),
                    veto: p.veto_on_failure && !p.shadow,
                    cause,
                }),
            }
        }
        (specs, failures)
    }
}

/// A plugin's bytes and signature from local files.
pub fn read_local(p: &RuleConfig) -> Result<Fetched, String> {
    match (p.location()?, p.signature_location()?) {
        (Location::File(path), signature) => source::read_local(&path, &signature),
        (remote, _) => Err(format!(
            "{remote} must be fetched first (this caller reads local files only)"
        )),
    }
}

#[cfg(test)]
mod default_path_tests {
    use super::*;

    #[test]
    fn the_default_file_follows_xdg_and_falls_back_to_home() {
        let p = |xdg: Option<&str>, home: Option<&str>| {
            default_path_from(xdg.map(PathBuf::from), home.map(PathBuf::from))
        };
        assert_eq!(
            p(Some("/etc/xdg-user"), Some("/home/a")),
            Some(PathBuf::from("/etc/xdg-user/autorepair/config.toml"))
        );
        assert_eq!(
            p(Some("relative"), Some("/home/a")),
            Some(PathBuf::from("/home/a/.config/autorepair/config.toml"))
        );
        assert_eq!(
            p(None, Some("/home/a")),
            Some(PathBuf::from("/home/a/.config/autorepair/config.toml"))
        );
        assert_eq!(p(None, None), None);
        assert_eq!(p(None, Some("")), None);
    }
}
