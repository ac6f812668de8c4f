//! Which alarms each opted-in function should have, and what it takes to get
//! there from the alarms that exist: a pure plan, applied by [`super::onboard`].

use std::collections::BTreeMap;
use std::fmt;

use crate::config::FleetConfig;
use crate::model::{AlarmSpec, FleetFunction};

/// The kinds of alarm onboarding makes, with their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Errors (Sum per minute) at or above N; default 1.
    Errors,
    /// Duration (Maximum) at or above P percent of the timeout; default 90.
    Duration,
    /// Throttles (Sum per minute) at or above N; default 1.
    Throttles,
    /// Lambda Insights memory_utilization (Maximum, percent) at or above P;
    /// default 90; only for functions with the Insights extension.
    Memory,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Errors, Kind::Duration, Kind::Throttles, Kind::Memory];

    fn name(self) -> &'static str {
        match self {
            Kind::Errors => "errors",
            Kind::Duration => "duration",
            Kind::Throttles => "throttles",
            Kind::Memory => "memory",
        }
    }

    /// The threshold tag's suffix (after the configured prefix).
    fn tag(self) -> &'static str {
        match self {
            Kind::Errors => "errors",
            Kind::Duration => "duration-percent",
            Kind::Throttles => "throttles",
            Kind::Memory => "memory-percent",
        }
    }

    fn default_value(self) -> f64 {
        match self {
            Kind::Errors | Kind::Throttles => 1.0,
            Kind::Duration | Kind::Memory => 90.0,
        }
    }

    /// The values a tag may set; percentages within 1..=100.
    fn valid(self, value: f64) -> bool {
        match self {
            Kind::Errors | Kind::Throttles => (1.0..=1e9).contains(&value),
            Kind::Duration | Kind::Memory => (1.0..=100.0).contains(&value),
        }
    }
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq)]
pub enum AlarmChange {
    Create(AlarmSpec),
    Update { old: AlarmSpec, new: AlarmSpec },
    Delete(AlarmSpec),
}

/// What onboarding would do, and what it noticed on the way.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub changes: Vec<AlarmChange>,
    /// Managed alarms already as they should be.
    pub unchanged: usize,
    /// Opted-in functions the plan covers.
    pub functions: usize,
    /// Tags that could not be used, each with what was done instead.
    pub warnings: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn count(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for change in &self.changes {
            match change {
                AlarmChange::Create(_) => c.0 += 1,
                AlarmChange::Update { .. } => c.1 += 1,
                AlarmChange::Delete(_) => c.2 += 1,
            }
        }
        c
    }
}

/// Whether `function` carries the opt-in tag.
pub fn opted_in(function: &FleetFunction, key: &str, value: &str) -> bool {
    function.tags.get(key).is_some_and(|v| v == value)
}

/// The alarms `function` should have, with a warning for each threshold tag
/// that is not a valid number (the default is used) — `off` turns that alarm off.
pub fn desired(function: &FleetFunction, fleet: &FleetConfig) -> (Vec<AlarmSpec>, Vec<String>) {
    let mut alarms = Vec::new();
    let mut warnings = Vec::new();
    for kind in Kind::ALL {
        if kind == Kind::Memory && !function.has_insights() {
            continue;
        }
        let key = format!("{}{}", fleet.threshold_tag_prefix, kind.tag());
        let value = match function.tags.get(&key).map(|v| v.trim()) {
            Some(v) if v.eq_ignore_ascii_case("off") => continue,
            Some(v) => match v.parse::<f64>() {
                Ok(n) if n.is_finite() && kind.valid(n) => n,
                _ => {
                    warnings.push(format!(
                        "{}: tag {key}={v:?} is not a valid threshold ({}); the default {} is used",
                        function.name,
                        match kind {
                            Kind::Errors | Kind::Throttles => "a count of at least 1, or off",
                            Kind::Duration | Kind::Memory => "a percentage 1..=100, or off",
                        },
                        kind.default_value()
                    ));
                    kind.default_value()
                }
            },
            None => kind.default_value(),
        };
        alarms.push(spec(function, kind, value, fleet));
    }
    (alarms, warnings)
}

fn spec(function: &FleetFunction, kind: Kind, value: f64, fleet: &FleetConfig) -> AlarmSpec {
    let (namespace, metric, dimension, statistic, threshold) = match kind {
        Kind::Errors => ("AWS/Lambda", "Errors", "FunctionName", "Sum", value),
        Kind::Throttles => ("AWS/Lambda", "Throttles", "FunctionName", "Sum", value),
        Kind::Duration => (
            "AWS/Lambda",
            "Duration",
            "FunctionName",
            "Maximum",
            // Milliseconds, whole: the timeout is in seconds.
            (f64::from(function.timeout_s) * 1000.0 * value / 100.0).floor(),
        ),
        Kind::Memory => (
            "LambdaInsights",
            "memory_utilization",
            "function_name",
            "Maximum",
            value,
        ),
    };
    AlarmSpec {
        name: alarm_name(&fleet.alarm_prefix, &function.name, kind.name()),
        function: function.name.clone(),
        kind: kind.name().to_owned(),
        namespace: namespace.to_owned(),
        metric: metric.to_owned(),
        dimension: dimension.to_owned(),
        statistic: statistic.to_owned(),
        threshold,
        period_s: 60,
        evaluation_periods: 1,
        edited: false,
    }
}

/// `<prefix><function>-<kind>`: the prefix sends it to the workflow.
pub fn alarm_name(prefix: &str, function: &str, kind: &str) -> String {
    format!("{prefix}{function}-{kind}")
}

/// The plan from the `existing` managed alarms to what the opted-in
/// `functions` should have. Alarms of functions that opted out or no longer
/// exist are deleted; an alarm is updated when anything it watches differs;
/// a name someone's own alarm has (`taken`) is left to them, with a warning.
pub fn plan(
    functions: &[FleetFunction],
    existing: &[AlarmSpec],
    taken: &[String],
    fleet: &FleetConfig,
    opt_in: (&str, &str),
) -> Plan {
    let mut plan = Plan::default();
    let mut wanted: BTreeMap<String, AlarmSpec> = BTreeMap::new();
    for function in functions.iter().filter(|f| opted_in(f, opt_in.0, opt_in.1)) {
        plan.functions += 1;
        let (alarms, warnings) = desired(function, fleet);
        plan.warnings.extend(warnings);
        wanted.extend(alarms.into_iter().map(|a| (a.name.clone(), a)));
    }
    let mut have: BTreeMap<&str, &AlarmSpec> = BTreeMap::new();
    for alarm in existing {
        have.insert(alarm.name.as_str(), alarm);
    }
    for (name, new) in &wanted {
        if taken.contains(name) {
            plan.warnings.push(format!(
                "{name} exists and is not autorepair's (made by hand?): left alone — rename or delete it to let onboarding manage it"
            ));
            continue;
        }
        match have.get(name.as_str()) {
            None => plan.changes.push(AlarmChange::Create(new.clone())),
            Some(old) if !same(old, new) => plan.changes.push(AlarmChange::Update {
                old: (*old).clone(),
                new: new.clone(),
            }),
            Some(_) => plan.unchanged += 1,
        }
    }
    for (name, old) in have {
        if !wanted.contains_key(name) {
            plan.changes.push(AlarmChange::Delete(old.clone()));
        }
    }
    plan
}

/// Whether two alarms watch the same thing the same way (the kind and the
/// function are read back from tags, which a hand edit may have lost).
fn same(a: &AlarmSpec, b: &AlarmSpec) -> bool {
    !a.edited
        && !b.edited
        && a.namespace == b.namespace
        && a.metric == b.metric
        && a.dimension == b.dimension
        && a.statistic == b.statistic
        && (a.threshold - b.threshold).abs() < 1e-9
        && a.period_s == b.period_s
        && a.evaluation_periods == b.evaluation_periods
}

impl fmt::Display for AlarmChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlarmChange::Create(a) => write!(f, "+ {}: {}", a.name, describe(a)),
            AlarmChange::Update { old, new } => {
                write!(f, "~ {}: {} → {}", new.name, describe(old), describe(new))
            }
            AlarmChange::Delete(a) => write!(f, "- {}: {}", a.name, describe(a)),
        }
    }
}

/// `Errors Sum >= 1 (60 s × 1)`.
pub fn describe(a: &AlarmSpec) -> String {
    format!(
        "{}{} {} >= {} ({} s × {}){}",
        if a.namespace == "AWS/Lambda" {
            String::new()
        } else {
            format!("{}/", a.namespace)
        },
        a.metric,
        a.statistic,
        a.threshold,
        a.period_s,
        a.evaluation_periods,
        if a.edited { ", edited by hand" } else { "" }
    )
}

/// The plan as `--dry-run` prints it: one line per change, then a summary.
pub fn render(plan: &Plan, dry_run: bool) -> String {
    let mut out = String::new();
    for w in &plan.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    for change in &plan.changes {
        out.push_str(&format!("{change}\n"));
    }
    let (create, update, delete) = plan.count();
    out.push_str(&format!(
        "{} {create} to create, {update} to update, {delete} to delete, {} unchanged ({} opted-in functions){}\n",
        if dry_run { "plan:" } else { "done:" },
        plan.unchanged,
        plan.functions,
        if dry_run && !plan.is_empty() {
            "; run without --dry-run to apply"
        } else {
            ""
        }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(name: &str, tags: &[(&str, &str)]) -> FleetFunction {
        FleetFunction {
            name: name.into(),
            memory_mb: 512,
            timeout_s: 30,
            tags: tags
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            layers: Vec::new(),
        }
    }

    const OPT_IN: (&str, &str) = ("autorepair", "enabled");

    #[test]
    fn an_opted_in_function_gets_three_alarms_and_insights_a_fourth() {
        let fleet = FleetConfig::default();
        let mut f = function("orders", &[("autorepair", "enabled")]);
        let plan = plan(std::slice::from_ref(&f), &[], &[], &fleet, OPT_IN);
        let mut names: Vec<_> = plan
            .changes
            .iter()
            .map(|c| match c {
                AlarmChange::Create(a) => a.name.clone(),
                other => panic!("{other}"),
            })
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "autorepair-orders-duration",
                "autorepair-orders-errors",
                "autorepair-orders-throttles"
            ]
        );
        f.layers =
            vec!["arn:aws:lambda:us-east-1:580247275435:layer:LambdaInsightsExtension:53".into()];
        let (alarms, _) = desired(&f, &fleet);
        let memory = alarms.iter().find(|a| a.kind == "memory").unwrap();
        assert_eq!(
            (memory.namespace.as_str(), memory.dimension.as_str()),
            ("LambdaInsights", "function_name")
        );
        let duration = alarms.iter().find(|a| a.kind == "duration").unwrap();
        assert_eq!(duration.threshold, 27_000.0, "90% of a 30 s timeout");
    }

    #[test]
    fn thresholds_come_from_tags_and_off_turns_an_alarm_off() {
        let fleet = FleetConfig::default();
        let f = function(
            "orders",
            &[
                ("autorepair", "enabled"),
                ("autorepair:errors", "5"),
                ("autorepair:duration-percent", "50"),
                ("autorepair:throttles", "off"),
            ],
        );
        let (alarms, warnings) = desired(&f, &fleet);
        assert!(warnings.is_empty(), "{warnings:?}");
        let by_kind = |k: &str| alarms.iter().find(|a| a.kind == k).map(|a| a.threshold);
        assert_eq!(by_kind("errors"), Some(5.0));
        assert_eq!(by_kind("duration"), Some(15_000.0));
        assert_eq!(by_kind("throttles"), None);
    }

    #[test]
    fn a_bad_threshold_tag_warns_and_keeps_the_default() {
        let fleet = FleetConfig::default();
        for bad in ["abc", "0", "NaN", "-3", "1e10"] {
            let f = function(
                "orders",
                &[
                    ("autorepair:duration-percent", bad),
                    ("autorepair:errors", bad),
                ],
            );
            let (alarms, warnings) = desired(&f, &fleet);
            assert_eq!(warnings.len(), 2, "{bad}: {warnings:?}");
            let duration = alarms.iter().find(|a| a.kind == "duration").unwrap();
            assert_eq!(duration.threshold, 27_000.0, "{bad}");
        }
    }

    #[test]
    fn the_plan_is_idempotent_updates_what_differs_and_deletes_opted_out() {
        let fleet = FleetConfig::default();
        let on = function("a", &[("autorepair", "enabled")]);
        let first = plan(std::slice::from_ref(&on), &[], &[], &fleet, OPT_IN);
        let existing: Vec<AlarmSpec> = first
            .changes
            .iter()
            .map(|c| match c {
                AlarmChange::Create(a) => a.clone(),
                other => panic!("{other}"),
            })
            .collect();
        let again = plan(std::slice::from_ref(&on), &existing, &[], &fleet, OPT_IN);
        assert!(again.is_empty(), "{:?}", again.changes);
        assert_eq!(again.unchanged, 3);

        // Edited by hand in what the spec does not model: put back.
        let mut edited = existing.clone();
        edited[1].edited = true;
        let repair = plan(std::slice::from_ref(&on), &edited, &[], &fleet, OPT_IN);
        assert_eq!(repair.count(), (0, 1, 0));
        assert!(
            repair.changes[0].to_string().contains("edited by hand"),
            "{}",
            repair.changes[0]
        );

        let mut raised = on.clone();
        raised.timeout_s = 60;
        let update = plan(&[raised], &existing, &[], &fleet, OPT_IN);
        assert_eq!(update.count(), (0, 1, 0));
        assert!(
            update.changes[0]
                .to_string()
                .contains("27000 (60 s × 1) → Duration Maximum >= 54000")
        );

        let opted_out = function("a", &[("autorepair", "disabled")]);
        assert_eq!(
            plan(&[opted_out], &existing, &[], &fleet, OPT_IN).count(),
            (0, 0, 3)
        );
        assert_eq!(
            plan(&[], &existing, &[], &fleet, OPT_IN).count(),
            (0, 0, 3),
            "deleted function"
        );
    }

    #[test]
    fn a_hand_made_alarm_with_our_name_is_left_alone_with_a_warning() {
        let fleet = FleetConfig::default();
        let on = function("a", &[("autorepair", "enabled")]);
        let p = plan(
            std::slice::from_ref(&on),
            &[],
            &["autorepair-a-errors".to_owned()],
            &fleet,
            OPT_IN,
        );
        assert_eq!(p.count(), (2, 0, 0));
        assert!(
            p.changes
                .iter()
                .all(|c| !c.to_string().contains("autorepair-a-errors"))
        );
        assert!(p.warnings[0].contains("autorepair-a-errors exists and is not autorepair's"));
    }

    #[test]
    fn render_says_what_a_dry_run_would_do() {
        let fleet = FleetConfig::default();
        let p = plan(
            &[function("a", &[("autorepair", "enabled")])],
            &[],
            &[],
            &fleet,
            OPT_IN,
        );
        let text = render(&p, true);
        assert!(
            text.contains("+ autorepair-a-errors: Errors Sum >= 1 (60 s × 1)"),
            "{text}"
        );
        assert!(
            text.contains("plan: 3 to create, 0 to update, 0 to delete"),
            "{text}"
        );
        assert!(text.contains("run without --dry-run"), "{text}");
    }
}
