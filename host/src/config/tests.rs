use super::*;
use crate::model::FailureCause;

fn parse(text: &str) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("autorepair.toml");
    std::fs::write(&path, text).unwrap();
    Config::load(Some(&path))
}

#[test]
fn the_deployment_text_wins_over_the_file_and_errors_name_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("autorepair.toml");
    std::fs::write(&file, "mode = \"ai\"\n").unwrap();
    let from_text =
        Config::from_sources(Some("mode = \"consensus\"\n".into()), Some(file.clone())).unwrap();
    assert_eq!(from_text.mode, MergeMode::Consensus);
    let from_file = Config::from_sources(Some("  ".into()), Some(file)).unwrap();
    assert_eq!(from_file.mode, MergeMode::Ai);
    assert_eq!(Config::from_sources(None, None).unwrap(), Config::default());
    let err = Config::from_sources(Some("mode = 1".into()), None).unwrap_err();
    assert!(err.to_string().contains("$AUTOREPAIR_CONFIG_TOML"), "{err}");
}

#[test]
fn empty_file_gives_the_defaults() {
    assert_eq!(parse("").unwrap(), Config::default());
}

#[test]
fn effective_config_round_trips_through_toml() {
    let config = Config::default();
    let back: Config = toml::from_str(&config.to_toml()).unwrap();
    assert_eq!(back, config);
}

#[test]
fn unknown_keys_and_bad_values_are_refused_with_a_reason() {
    let err = parse("[policy]\nceling_mb = 4096\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("celing_mb"), "{err}");
    let err = parse("mode = \"majority\"\n").unwrap_err().to_string();
    assert!(err.contains("majority"), "{err}");
    let err = parse("[policy]\nceiling_mb = 64\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("ceiling_mb = 64"), "{err}");
    let err = parse("[bundled]\ndisabled = [\"nope\"]\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("no bundled rule is named \"nope\""), "{err}");
}

#[test]
fn fleet_approval_and_iac_settings_are_checked() {
    for (toml, says) in [
        ("[fleet]\nsweep_days = 0\n", "fleet.sweep_days"),
        ("[fleet]\nbatch_size = 0\n", "fleet.batch_size"),
        (
            "[fleet]\nbatch_budget_seconds = 0\n",
            "fleet.batch_budget_seconds",
        ),
        ("[fleet]\nalarm_prefix = \"\"\n", "fleet.alarm_prefix"),
        (
            "[approval]\ntimeout_seconds = 0\n",
            "approval.timeout_seconds",
        ),
        (
            "[iac]\nterraform_tag = \"terraform\"\n",
            "iac.terraform_tag",
        ),
        ("[fleet]\nsweep_bukcet = \"x\"\n", "sweep_bukcet"),
    ] {
        let err = parse(toml).unwrap_err().to_string();
        assert!(err.contains(says), "{toml}: {err}");
    }
    let ok = parse("[fleet]\nsweep_bucket = \"s\"\n[approval]\nrequired = true\n").unwrap();
    assert!(ok.approval.required && ok.fleet.sweep_bucket == "s");
}

#[test]
fn an_unpinned_plugin_is_refused_unless_allowed() {
    let err = parse("[[plugins]]\npath = \"x.wasm\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no sha256 pin and no trusted signing keys"),
        "{err}"
    );
    let ok = parse("[[plugins]]\npath = \"x.wasm\"\nallow_unsigned = true\n").unwrap();
    assert_eq!(ok.plugins[0].grants, default_rule_grants());
    assert!(!ok.plugins[0].grants.contains(Grant::Logs));
}

#[test]
fn a_pin_mismatch_refuses_the_plugin_but_not_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("rule.wasm");
    std::fs::write(&wasm, b"not really wasm").unwrap();
    let path = dir.path().join("autorepair.toml");
    std::fs::write(
        &path,
        format!(
            "[[plugins]]\npath = \"rule.wasm\"\nsha256 = \"{}\"\n",
            "0".repeat(64)
        ),
    )
    .unwrap();
    let config = Config::load(Some(&path)).unwrap();
    let (specs, failures) = config.rule_specs();
    assert_eq!(specs.len(), rules::artifacts::BUNDLED.len());
    assert!(
        matches!(&failures[0].cause, FailureCause::Untrusted(m) if m.contains("sha256 mismatch"))
    );
}

#[test]
fn the_lock_outlasts_both_verification_windows_of_every_step() {
    let mut run = RunConfig::default();
    assert!(
        run.lock_ttl_ms(1) >= 2 * 600 * 1000,
        "the defaults' longest path"
    );
    // Three steps, each verified in up to two windows.
    assert!(
        run.lock_ttl_ms(3) >= 3 * 2 * 600 * 1000,
        "{}",
        run.lock_ttl_ms(3)
    );
    run.verify_after_seconds = 3600;
    run.lock_ttl_seconds = 900;
    assert!(
        run.lock_ttl_ms(1) > 2 * 3600 * 1000,
        "{}",
        run.lock_ttl_ms(1)
    );
    run.lock_ttl_seconds = 80_000;
    assert_eq!(run.lock_ttl_ms(3), 80_000_000, "a longer lock is kept");
}

#[test]
fn approvers_match_like_iam_string_like() {
    let config = ApprovalConfig {
        approvers: vec![
            "arn:aws:sts::123456789012:assumed-role/PlatformOnCall/*".into(),
            "arn:aws:iam::123456789012:user/al?ce".into(),
        ],
        ..ApprovalConfig::default()
    };
    assert!(config.may_answer("arn:aws:sts::123456789012:assumed-role/PlatformOnCall/bob"));
    assert!(config.may_answer("arn:aws:iam::123456789012:user/alice"));
    assert!(!config.may_answer("arn:aws:iam::123456789012:user/mallory"));
    assert!(!config.may_answer("arn:aws:sts::123456789012:assumed-role/PlatformOnCallX/bob"));
    assert!(!config.may_answer("arn:aws:sts::999999999999:assumed-role/PlatformOnCall/bob"));
    assert!(!config.may_answer("arn:aws:iam::123456789012:user/alice2"));
    assert!(
        ApprovalConfig::default().may_answer("anyone"),
        "none listed: anyone"
    );
}
