//! The fuzzing campaign: everything that reads outside input, fed generated
//! input by proptest — alarm events, log lines (text and JSON), stage
//! requests, config files, signatures and pins, rule output, the AI's answer,
//! the redaction pass. Each target checks that nothing panics and that what
//! comes out keeps its promise (one clean line, bounded, refused rather than
//! half-read).
//!
//! Not run by CI (`#[ignore]`): `tests/fuzz.sh` runs every target with
//! `AUTOREPAIR_FUZZ_CASES` cases (a million by default) and prints, per
//! target, the cases run, the time and the slowest case. Figures:
//! docs/security.md, "The fuzzing campaign".

use std::sync::Mutex;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use autorepair::model::{Finding, FindingKind, LogLine, Recommendation};

/// Runs `check` on `cases` values of `strategy`, then prints the target's
/// figures. A failing case fails the test with proptest's shrunk input.
fn campaign<S: Strategy>(target: &str, strategy: S, check: impl Fn(S::Value))
where
    S::Value: std::fmt::Debug,
{
    let cases = std::env::var("AUTOREPAIR_FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(1_000u32);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 10_000,
        ..Config::default()
    });
    let slowest = Mutex::new(Duration::ZERO);
    let started = Instant::now();
    let result = runner.run(&strategy, |value| {
        let t = Instant::now();
        check(value);
        let took = t.elapsed();
        let mut s = slowest.lock().unwrap();
        *s = (*s).max(took);
        Ok(())
    });
    let elapsed = started.elapsed();
    eprintln!(
        "fuzz {target}: {cases} cases in {:.1} s ({:.0} per s), slowest case {:.2} ms, {}",
        elapsed.as_secs_f64(),
        f64::from(cases) / elapsed.as_secs_f64(),
        slowest.lock().unwrap().as_secs_f64() * 1000.0,
        if result.is_ok() {
            "no failure"
        } else {
            "FAILED"
        }
    );
    if let Err(e) = result {
        panic!("{target}: {e}");
    }
}

/// Text as outside input comes: any Unicode, control characters, invalid
/// UTF-8 read lossily, and the fragments parsers look for.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,300}",
        proptest::collection::vec(any::<u8>(), 0..300)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        proptest::collection::vec(
            prop_oneof![
                Just("REPORT RequestId: ".to_owned()),
                Just("\tMax Memory Used: ".to_owned()),
                Just("\tMemory Size: ".to_owned()),
                Just(" MB".to_owned()),
                Just("Runtime.OutOfMemory".to_owned()),
                Just("\n".to_owned()),
                Just("\u{1b}[31m".to_owned()),
                Just("\u{202e}".to_owned()),
                Just("AKIAIOSFODNN7EXAMPLE".to_owned()),
                Just("\"password\": \"".to_owned()),
                Just("-----BEGIN PRIVATE KEY-----".to_owned()),
                Just("https://user:pw@host/".to_owned()),
                "[0-9]{1,20}",
                "-?[0-9]{1,6}\\.[0-9]{0,4}",
                ".{0,20}",
            ],
            0..12
        )
        .prop_map(|parts| parts.concat()),
    ]
}

/// Any JSON, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            proptest::collection::btree_map(prop_oneof!["[a-zA-Z_]{1,12}", text()], inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An alarm event: a real one's skeleton with any field replaced, dropped or
/// filled with anything.
fn alarm_event() -> impl Strategy<Value = Value> {
    (
        text(),
        prop_oneof![Just("ALARM".to_owned()), Just("OK".to_owned()), text()],
        prop_oneof![Just("2026-12-05T18:00:00.000+0000".to_owned()), text()],
        proptest::collection::vec((text(), text(), json_value()), 0..4),
        json_value(),
        any::<bool>(),
    )
        .prop_map(|(name, state, at, metrics, extra, lambda_action)| {
            let metrics: Vec<Value> = metrics
                .into_iter()
                .map(|(function, resource, account)| {
                    json!({"id": "m", "accountId": account, "metricStat": {"metric": {
                        "namespace": "AWS/Lambda", "name": "Errors",
                        "dimensions": {"FunctionName": function, "Resource": resource}}}})
                })
                .collect();
            let data = json!({
                "alarmName": name,
                "state": {"value": state, "reason": extra, "timestamp": at},
                "configuration": {"metrics": metrics},
            });
            if lambda_action {
                json!({"alarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:x",
                       "accountId": "123456789012", "alarmData": data})
            } else {
                json!({"detail-type": "CloudWatch Alarm State Change", "account": "123456789012",
                       "region": "us-east-1", "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:x"],
                       "detail": data})
            }
        })
}

#[test]
#[ignore = "the fuzzing campaign: tests/fuzz.sh"]
fn fuzz_alarm_events() {
    use autorepair::incident::{self, AlarmState};
    use autorepair::origin;
    use autorepair::ports::AlarmRecord;
    campaign(
        "alarm events",
        (
            prop_oneof![alarm_event(), json_value()],
            text(),
            any::<i64>(),
        ),
        |(event, raw, now)| {
            let _ = incident::parse(&raw);
            let Ok(i) = incident::parse_value(&event) else {
                return;
            };
            for field in [&i.function_name, &i.alarm_name, &i.reason, &i.metric] {
                assert!(!field.contains(['\n', '\r']), "{field:?}");
            }
            assert!(!i.function_name.is_empty());
            assert!(i.alarm_name.chars().count() <= 255);
            assert!(i.reason.chars().count() <= 1_023);
            // The check against CloudWatch, with whatever CloudWatch says.
            let _ = origin::check_age(&i, now, 900_000);
            let record = AlarmRecord {
                name: i.alarm_name.clone(),
                arn: i.alarm_arn.clone(),
                functions: vec![i.function_name.clone()],
                state: AlarmState::Alarm,
                state_changed_ms: now,
            };
            let _ = origin::check_alarm(&i, Some(&record), Some(&[]));
        },
    );
}

/// A REPORT line with any of its figures replaced.
fn report_line() -> impl Strategy<Value = String> {
    (
        prop_oneof!["[0-9a-f-]{36}", text()],
        prop_oneof!["[0-9]{1,6}\\.[0-9]{2}", text()],
        prop_oneof!["[0-9]{1,5}", "[0-9]{6,25}", text()],
        prop_oneof!["[0-9]{1,5}", "-[0-9]{1,5}", "[0-9]{11,25}", text()],
        text(),
    )
        .prop_map(|(id, duration, size, used, tail)| {
            format!(
                "REPORT RequestId: {id}\tDuration: {duration} ms\tBilled Duration: {duration} ms\tMemory Size: {size} MB\tMax Memory Used: {used} MB{tail}"
            )
        })
}

/// A JSON `platform.report` record with any field replaced.
fn platform_report() -> impl Strategy<Value = String> {
    (text(), json_value(), json_value(), json_value()).prop_map(|(id, size, used, status)| {
        json!({"time": "2026-12-05T18:00:00.000Z", "type": "platform.report", "record": {
            "requestId": id, "status": status,
            "metrics": {"durationMs": 12.5, "billedDurationMs": 13, "memorySizeMB": size, "maxMemoryUsedMB": used}}})
        .to_string()
    })
}

#[test]
#[ignore = "the fuzzing campaign: tests/fuzz.sh"]
fn fuzz_log_lines() {
    use autorepair::logs;
    campaign(
        "log lines",
        proptest::collection::vec(
            (
                prop_oneof![report_line(), platform_report(), text()],
                any::<i64>(),
            ),
            0..20,
        ),
        |lines| {
            let lines: Vec<LogLine> = lines
                .into_iter()
                .map(|(message, timestamp_ms)| LogLine {
                    timestamp_ms,
                    message,
                    log_stream: None,
                })
                .collect();
            let reports = logs::parse_reports(&lines);
            assert!(reports.len() <= lines.len());
            for r in &reports {
                assert!(!r.request_id.is_empty());
                assert!(r.duration_ms.is_finite() && r.duration_ms >= 0.0, "{r:?}");
            }
            let _ = logs::report_doubt(&reports, &[]);
            for l in &lines {
                let _ = logs::relevant(&l.message);
                let _ = logs::request_id_in(&l.message);
            }
        },
    );
}

#[test]
#[ignore = "the fuzzing campaign: tests/fuzz.sh"]
fn fuzz_stage_requests() {
    use autorepair::pipeline::StageRequest;
    let stage = prop_oneof![
        Just("parse"),
        Just("rules"),
        Just("ai"),
        Just("decide"),
        Just("await_approval"),
        Just("approve"),
        Just("execute"),
        Just("verify"),
        Just("rollback"),
        Just("record"),
        Just("teleport"),
    ];
    let request = (
        stage,
        json_value(),
        json_value(),
        json_value(),
        json_value(),
    )
        .prop_map(|(stage, incident, version, execution, extra)| {
            json!({"stage": stage, "incident": incident, "version": version,
                   "execution": execution, "step_error": extra})
        });
    campaign(
        "stage requests",
        prop_oneof![request, json_value()],
        |payload| {
            if let Ok(request) = serde_json::from_value::<StageRequest>(payload) {
                let (incident, execution) = request.caller();
                let _ = (incident.map(str::len), execution.map(str::len));
            }
        },
    );
}

/// A valid config with its values swapped for anything.
fn config_text() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        "[0-9]{1,22}",
        "-[0-9]{1,5}",
        "\"[^\"\\\\]{0,30}\"",
        Just("true".to_owned()),
        Just("[]".to_owned()),
        Just("[\"arn:aws:sts::1:assumed-role/x/*\", \"\"]".to_owned()),
        text().prop_map(|t| format!("{t:?}")),
    ];
    let keys = [
        ("", "mode"),
        ("policy", "ceiling_mb"),
        ("policy", "max_step_ratio"),
        ("run", "verify_after_seconds"),
        ("run", "max_event_age_seconds"),
        ("run", "state_machine_arn"),
        ("approval", "approvers"),
        ("approval", "min_approvals"),
        ("sandbox", "memory_mib"),
        ("ai", "max_tokens"),
        ("fleet", "batch_size"),
    ];
    (
        proptest::collection::vec((0..keys.len(), value), 0..8),
        text(),
    )
        .prop_map(move |(entries, junk)| {
            let mut sections: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
            for (k, v) in entries {
                let (section, key) = keys[k];
                sections
                    .entry(section)
                    .or_default()
                    .push(format!("{key} = {v}"));
            }
            let mut text = String::new();
            for (section, lines) in sections {
                if !section.is_empty() {
                    text.push_str(&format!("[{section}]\n"));
                }
                for l in lines {
                    text.push_str(&l);
                    text.push('\n');
                }
            }
            text.push_str(&format!(
                "[[plugins]]\nsource = \"s3://b/r.wasm\"\nrule = {junk:?}\nmin_version = {junk:?}\n"
            ));
            text
        })
}

#[test]
#[ignore = "the fuzzing campaign: tests/fuzz.sh"]
fn fuzz_config_files() {
    use autorepair::config::Config;
    campaign("config files", prop_oneof![config_text(), text()], |text| {
        if let Ok(config) = Config::from_toml(&text, "fuzz.toml".as_ref()) {
            assert!(config.problems().is_empty(), "{text}");
            for p in &config.plugins {
                let _ = p.slot_rule();
            }
            let _ = config.approval.may_answer("arn:aws:iam::1:user/x");
        }
    });
}

#[test]
#[ignore = "the fuzzing campaign: tests/fuzz.sh"]
fn fuzz_signatures_and_pins() {
    use autorepair::trust::{self, Admission, Claims, Slot, TrustedKey};
    let (public, _) = trust::sign::keypair(None).unwrap();
    let keys = vec![TrustedKey {
        name: "team".into(),
        public_key: trust::sign::public_key_line(&public).unwrap().into(),
        expires: None,
    }];
    let b64 = "[A-Za-z0-9+/]{0,120}={0,2}";
    let signature = (text(), b64, text(), b64).prop_map(|(u, s, t, g)| {
        format!("untrusted comment: {u}\n{s}\ntrusted comment: {t}\n{g}\n")
    });
    campaign(
        "signatures and pins",
        (
            proptest::collection::vec(any::<u8>(), 0..64),
            prop_oneof![signature, text()],
            proptest::option::of(prop_oneof!["[0-9a-f]{64}", text()]),
            text(),
        ),
        |(bytes, signature, pin, comment)| {
            let slot = Slot {
                rule: "headroom".into(),
                floor: Some("1.0.0".into()),
            };
            let admission = Admission {
                pin: pin.as_deref(),
                signature: Some(&signature),
                looked_at: "fuzz.minisig",
                keys: &keys,
                allow_unsigned: false,
                slot: Some(&slot),
                now_ms: 1_795_000_000_000,
            };
            // Nothing but the key's holder signs: a generated signature
            // never admits, and a pin admits only its own bytes.
            match trust::admit(&bytes, &admission) {
                Ok(trust::Trust::Pinned) => {
                    assert!(
                        pin.unwrap()
                            .eq_ignore_ascii_case(&autorepair::digest::sha256_hex(&bytes))
                    )
                }
                Ok(other) => panic!("admitted as {other:?}"),
                Err(_) => {}
            }
            let _ = Claims::of_comment(&comment);
            let _ = trust::version_key(&comment);
            let _ = trust::public_key_id(&comment);
        },
    );
}

fn finding() -> impl Strategy<Value = Finding> {
    (
        0..FindingKind::ALL.len(),
        any::<f64>(),
        text(),
        proptest::collection::vec(text(), 0..6),
        prop_oneof![
            any::<u32>().prop_map(|mb| Recommendation::SetMemory { memory_mb: mb }),
            text().prop_map(|reason| Recommendation::Escalate { reason }),
            Just(Recommendation::Keep),
        ],
    )
        .prop_map(
            |(kind, confidence, summary, evidence, recommendation)| Finding {
                kind: FindingKind::ALL[kind],
                confidence,
                summary,
                evidence,
                recommendation,
            },
        )
}

#[test]
#[ignore = "the fuzzing campaign: tests/fuzz.sh"]
fn fuzz_rule_output() {
    use autorepair::rules::validate;
    campaign(
        "rule output",
        proptest::collection::vec(finding(), 0..12),
        |mut findings| {
            let valid = validate::findings(&findings).is_ok();
            validate::clean_findings(&mut findings);
            for f in &findings {
                for t in std::iter::once(&f.summary).chain(&f.evidence) {
                    assert!(!t.chars().any(|c| c.is_control()), "{t:?}");
                }
            }
            let _ = (valid, validate::output_bytes(&findings));
        },
    );
}

#[test]
#[ignore = "the fuzzing campaign: tests/fuzz.sh"]
fn fuzz_ai_answers() {
    use autorepair::ai::answer;
    let shaped = (
        json_value(),
        json_value(),
        json_value(),
        json_value(),
        json_value(),
    )
        .prop_map(|(kind, confidence, summary, evidence, recommendation)| {
            json!({"kind": kind, "confidence": confidence, "summary": summary,
                   "evidence": evidence, "recommendation": recommendation})
        });
    campaign("AI answers", prop_oneof![shaped, json_value()], |input| {
        if let Ok(f) = answer::finding(&input) {
            assert!(f.confidence.is_finite() && (0.0..=1.0).contains(&f.confidence));
            assert!(!f.summary.contains('\n'));
        }
    });
}

#[test]
#[ignore = "the fuzzing campaign: tests/fuzz.sh"]
fn fuzz_redaction() {
    use autorepair::redact::redact;
    campaign("redaction", text(), |t| {
        let (once, _) = redact(&t);
        // Nothing the pass hides comes back out of a second pass.
        let (twice, found) = redact(&once);
        assert_eq!(found, 0, "{t:?} → {once:?} → {twice:?}");
        assert!(!once.contains("AKIAIOSFODNN7EXAMPLE"), "{once:?}");
    });
}
