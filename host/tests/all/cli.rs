//! The `autorepair` binary driven as a user drives it.

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/evidence")
        .join(name)
}

fn autorepair(args: &[&str]) -> Output {
    autorepair_with(args, &[])
}

/// `autorepair ARGS` with `env` set; no configuration is found but what the
/// test names (no default file: `XDG_CONFIG_HOME` points at none).
fn autorepair_with(args: &[&str], env: &[(&str, &std::path::Path)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_autorepair"))
        .args(args)
        .env_remove("AUTOREPAIR_CONFIG")
        .env_remove("AUTOREPAIR_ENVIRONMENT")
        .env_remove("AUTOREPAIR_LOG")
        .env(
            "XDG_CONFIG_HOME",
            std::env::temp_dir().join("autorepair-cli-tests-no-config"),
        )
        .envs(env.iter().copied())
        .env(
            "AUTOREPAIR_CACHE_DIR",
            std::env::temp_dir().join("autorepair-cli-tests"),
        )
        .output()
        .expect("run autorepair")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `diagnose --format json` on a fixture; stdout must be one JSON document.
fn diagnose_json(name: &str, extra: &[&str]) -> serde_json::Value {
    let path = fixture(name);
    let mut args = vec![
        "diagnose",
        "--evidence",
        path.to_str().unwrap(),
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = autorepair(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON document")
}

#[test]
fn diagnose_json_prints_one_document_with_the_decision() {
    let doc = diagnose_json("oom-node.json", &[]);
    assert_eq!(doc["decision"]["action"], "set_memory");
    assert_eq!(doc["decision"]["current_memory_mb"], 512);
    assert_eq!(doc["decision"]["target_memory_mb"], 768);
    assert_eq!(doc["findings"][0]["source"], "rule:oom");
    assert_eq!(doc["findings"][0]["kind"], "memory-exhaustion");
    assert_eq!(doc["rules"].as_array().unwrap().len(), 5);
    assert_eq!(doc["plugin_failures"].as_array().unwrap().len(), 0);
}

#[test]
fn diagnose_text_tells_the_story() {
    let out = autorepair(&[
        "diagnose",
        "--evidence",
        fixture("throttles.json").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("rule:throttles"), "{text}");
    assert!(text.contains("ESCALATE"), "{text}");
}

#[test]
fn mode_flag_overrides_the_config() {
    let doc = diagnose_json("oom-node.json", &["--mode", "ai"]);
    assert_eq!(doc["mode"], "ai");
    // No AI finding yet, so the AI-decided run changes nothing.
    assert_eq!(doc["decision"]["action"], "none");
}

#[test]
fn bad_input_exits_2_with_a_one_line_reason() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"function\": ").unwrap();
    for args in [
        vec!["diagnose", "--evidence", "/nonexistent/evidence.json"],
        vec!["diagnose", "--evidence", broken.to_str().unwrap()],
        vec![
            "diagnose",
            "--evidence",
            broken.to_str().unwrap(),
            "--mode",
            "majority",
        ],
        vec!["diagnose"],
    ] {
        let out = autorepair(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).trim_start().starts_with("error"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    let out = autorepair(&["diagnose", "--evidence", broken.to_str().unwrap()]);
    assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));
}

#[test]
fn a_bad_config_exits_2_and_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("autorepair.toml");
    std::fs::write(&config, "[policy]\nceiling = 4096\n").unwrap();
    let out = autorepair(&["--config", config.to_str().unwrap(), "config", "show"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("ceiling"), "{}", stderr(&out));
}

#[test]
fn config_show_prints_every_default() {
    let out = autorepair(&["config", "show"]);
    assert!(out.status.success());
    let text = stdout(&out);
    for key in [
        "mode = \"rules\"",
        "ceiling_mb = 3008",
        "cooldown_minutes = 60",
        "cpu_budget_ms = 50",
        "memory_mib = 64",
    ] {
        assert!(text.contains(key), "missing {key} in\n{text}");
    }
}

/// A configuration in `dir` naming the hostile `greedy-logs` rule,
/// unsigned, in shadow, with a 20 ms budget.
fn greedy_config(dir: &std::path::Path) -> PathBuf {
    let wasm = dir.join("greedy.wasm");
    std::fs::copy(autorepair::testing::hostile::path("greedy-logs"), &wasm).unwrap();
    let config = dir.join("autorepair.toml");
    std::fs::write(
        &config,
        "[[plugins]]\npath = \"greedy.wasm\"\nallow_unsigned = true\nshadow = true\ncpu_budget_ms = 20\n",
    )
    .unwrap();
    config
}

#[test]
fn rules_list_shows_bundled_and_configured_rules() {
    let dir = tempfile::tempdir().unwrap();
    let config = greedy_config(dir.path());
    let out = autorepair(&[
        "--config",
        config.to_str().unwrap(),
        "rules",
        "list",
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rules = doc["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 6);
    let greedy = &rules[5];
    assert_eq!(greedy["name"], "hostile-greedy-logs");
    assert_eq!(greedy["shadow"], true);
    assert_eq!(greedy["unsigned"], true);
    assert_eq!(greedy["trust"]["by"], "unsigned");
    assert_eq!(greedy["cpu_budget_ms"], 20);
    assert_eq!(
        greedy["wants"],
        serde_json::json!(["metrics", "reports", "logs", "config"])
    );
    assert_eq!(
        greedy["sees"],
        serde_json::json!(["metrics", "reports", "config"])
    );
    assert_eq!(greedy["keeps_instance"], false);
    // The bundled rules start from the code built into the binary, keep
    // their instance, and read the host's statistics instead of raw lines.
    for bundled in &rules[..5] {
        assert_eq!(bundled["native_code"], "embedded", "{bundled}");
        assert_eq!(bundled["keeps_instance"], true, "{bundled}");
    }
    assert_eq!(rules[0]["name"], "oom");
    assert_eq!(rules[0]["statistics"], true);
    assert_eq!(rules[0]["sees"], serde_json::json!(["config"]));

    let text = stdout(&autorepair(&[
        "--config",
        config.to_str().unwrap(),
        "rules",
        "list",
    ]));
    assert!(text.contains("UNSIGNED: development only"), "{text}");
    assert!(
        text.contains("code: precompiled into this binary"),
        "{text}"
    );
}

#[test]
fn help_explains_every_command() {
    for args in [
        vec!["--help"],
        vec!["diagnose", "--help"],
        vec!["rules", "list", "--help"],
        vec!["config", "show", "--help"],
        vec!["rule", "new", "--help"],
        vec!["rule", "build", "--help"],
        vec!["rule", "test", "--help"],
        vec!["rule", "keygen", "--help"],
        vec!["rule", "sign", "--help"],
        vec!["rule", "verify", "--help"],
        vec!["rule", "inspect", "--help"],
    ] {
        let out = autorepair(&args);
        assert!(out.status.success());
        assert!(stdout(&out).contains("Usage"), "{args:?}");
    }
}

/// The toolkit's exit codes: 2 for input it cannot use, 1 for a rule that
/// would not load or misses an expectation, 0 otherwise.
#[test]
fn rule_toolkit_exit_codes_tell_bad_input_from_a_failing_rule() {
    let dir = tempfile::tempdir().unwrap();
    let not_json = dir.path().join("broken.json");
    std::fs::write(&not_json, "{ not json").unwrap();
    let not_wasm = dir.path().join("rule.wasm");
    std::fs::write(&not_wasm, b"\0asm but not really").unwrap();
    let evidence = fixture("oom-node.json");
    let evidence = evidence.to_str().unwrap();
    let code = |args: &[&str]| autorepair(args).status.code();

    assert_eq!(
        code(&[
            "rule",
            "test",
            "oom",
            "--evidence",
            not_json.to_str().unwrap()
        ]),
        Some(2)
    );
    assert_eq!(
        code(&["rule", "test", "no-such-rule.wasm", "--evidence", evidence]),
        Some(2)
    );
    assert_eq!(
        code(&[
            "rule",
            "test",
            not_wasm.to_str().unwrap(),
            "--evidence",
            evidence
        ]),
        Some(1)
    );
    assert_eq!(
        code(&["rule", "inspect", not_wasm.to_str().unwrap()]),
        Some(1)
    );
    assert_eq!(
        code(&["rule", "verify", not_wasm.to_str().unwrap()]),
        Some(1)
    );
    assert_eq!(
        code(&[
            "rule",
            "sign",
            not_wasm.to_str().unwrap(),
            "--key",
            "nope.key"
        ]),
        Some(2)
    );
    assert_eq!(
        code(&[
            "rule",
            "new",
            "Bad_Name",
            "--dir",
            dir.path().to_str().unwrap()
        ]),
        Some(2)
    );

    let inspected = autorepair(&["rule", "inspect", "oom", "--format", "json"]);
    assert!(inspected.status.success(), "{}", stderr(&inspected));
    let doc: serde_json::Value = serde_json::from_slice(&inspected.stdout).unwrap();
    assert_eq!(doc["describe"]["name"], "oom");
    assert!(
        doc["imports"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["allowed"] == true)
    );

    let tested = autorepair(&["rule", "test", "oom", "--evidence", evidence]);
    assert!(tested.status.success(), "{}", stderr(&tested));
    assert!(
        stdout(&tested).contains("memory-exhaustion"),
        "{}",
        stdout(&tested)
    );
}

#[test]
fn completions_print_a_script_even_when_the_configuration_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "this is = = not toml").unwrap();
    let broken = broken.to_str().unwrap();
    let o = autorepair(&["--config", broken, "completions", "zsh"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("#compdef autorepair"), "{}", stdout(&o));
    // Anything that needs the configuration still says it is broken.
    let o = autorepair(&["--config", broken, "config", "show"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn the_default_file_is_read_and_a_broken_one_blocks_only_what_needs_it() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("xdg");
    std::fs::create_dir_all(home.join("autorepair")).unwrap();
    let file = home.join("autorepair").join("config.toml");
    std::fs::write(&file, "[run]\naudit_table = \"from-the-default-file\"\n").unwrap();
    let env = [("XDG_CONFIG_HOME", home.as_path())];
    let o = autorepair_with(&["config", "show"], &env);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("audit_table = \"from-the-default-file\""),
        "{}",
        stdout(&o)
    );
    let o = autorepair_with(&["config", "path"], &env);
    assert_eq!(stdout(&o).trim(), file.display().to_string());
    // --config wins over the default file.
    let other = dir.path().join("other.toml");
    std::fs::write(&other, "[run]\naudit_table = \"named\"\n").unwrap();
    let o = autorepair_with(
        &["--config", other.to_str().unwrap(), "config", "show"],
        &env,
    );
    assert!(
        stdout(&o).contains("audit_table = \"named\""),
        "{}",
        stdout(&o)
    );
    // --config and --environment name two configurations: refused.
    let o = autorepair_with(
        &[
            "--config",
            other.to_str().unwrap(),
            "--environment",
            "prod",
            "config",
            "show",
        ],
        &env,
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));

    // A broken default file blocks what reads the configuration, never the
    // rule author's toolkit.
    std::fs::write(&file, "this is = = not toml").unwrap();
    let o = autorepair_with(&["config", "show"], &env);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("config.toml"), "{}", stderr(&o));
    let keys = dir.path().join("team");
    let o = autorepair_with(
        &[
            "rule",
            "keygen",
            "--output",
            keys.to_str().unwrap(),
            "--unencrypted",
        ],
        &env,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(keys.with_extension("pub").exists());
}

#[test]
fn warnings_show_by_default_and_quiet_hides_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = greedy_config(dir.path());
    let list = |extra: &[&str]| {
        let mut args = vec!["--config", config.to_str().unwrap(), "rules", "list"];
        args.extend_from_slice(extra);
        autorepair(&args)
    };
    let default = list(&[]);
    assert!(default.status.success(), "{}", stderr(&default));
    assert!(
        stderr(&default).contains("WARN"),
        "an unsigned rule's load is a warning, shown by default: {}",
        stderr(&default)
    );
    let quiet = list(&["-q"]);
    assert!(quiet.status.success());
    assert!(!stderr(&quiet).contains("WARN"), "{}", stderr(&quiet));
    let verbose = list(&["-vv"]);
    assert!(
        stderr(&verbose).contains("DEBUG") || stderr(&verbose).contains("INFO"),
        "{}",
        stderr(&verbose)
    );
}

/// $AUTOREPAIR_CONFIG is the shell's default: an `--environment` on the
/// command line wins over it, and its deployed host is asked (here a closed
/// port on 127.0.0.1, so the error names the host, not the file).
#[test]
fn an_environment_on_the_command_line_wins_over_the_config_in_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "this is = = not toml").unwrap();
    let path = std::path::Path::new;
    let env = [
        ("AUTOREPAIR_CONFIG", broken.as_path()),
        ("AWS_ENDPOINT_URL", path("http://127.0.0.1:9")),
        ("AWS_REGION", path("us-east-1")),
        ("AWS_ACCESS_KEY_ID", path("test")),
        ("AWS_SECRET_ACCESS_KEY", path("test")),
        ("AWS_EC2_METADATA_DISABLED", path("true")),
    ];
    let o = autorepair_with(&["--environment", "prod", "config", "show"], &env);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("autorepair-prod-host"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("broken.toml"), "{}", stderr(&o));
    // Without --environment, the file in the environment is the one read.
    let o = autorepair_with(&["config", "show"], &env);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("broken.toml"), "{}", stderr(&o));
}
