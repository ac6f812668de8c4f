//! The function's recent changes (since 0.2.3): code deployed, settings
//! changed, versions published, aliases moved in the day before the alarm,
//! as CloudTrail recorded them. Only with the operator's `changes` grant.

pub use crate::bindings::autorepair::rules::changes::FunctionChange;

#[cfg(not(all(target_family = "wasm", not(feature = "local-statistics"))))]
std::thread_local! {
    static LOCAL: std::cell::RefCell<Vec<FunctionChange>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The function's changes in the day before the alarm, newest first.
/// Inside the sandbox the host answers (empty without the grant, or when it
/// looked nothing up); natively, and under a plain WASI runner
/// (`local-statistics`), what [`crate::testing::with_changes`] set.
pub fn recent() -> Vec<FunctionChange> {
    #[cfg(all(target_family = "wasm", not(feature = "local-statistics")))]
    {
        crate::bindings::autorepair::rules::changes::recent()
    }
    #[cfg(not(all(target_family = "wasm", not(feature = "local-statistics"))))]
    {
        LOCAL.with(|c| c.borrow().clone())
    }
}

/// The newest deployment (new code, a version, an alias moved) at or before
/// `alarm_ms`, if any.
pub fn last_deployment(changes: &[FunctionChange], alarm_ms: i64) -> Option<&FunctionChange> {
    changes
        .iter()
        .filter(|c| c.deployment && c.at_ms <= alarm_ms)
        .max_by_key(|c| c.at_ms)
}

/// "code deployed 12 min before the alarm (UpdateFunctionCode by alice)".
pub fn describe(change: &FunctionChange, alarm_ms: i64) -> String {
    let what = if change.deployment {
        "code deployed"
    } else {
        "configuration changed"
    };
    let minutes = (alarm_ms - change.at_ms).max(0) / 60_000;
    let by = if change.by.is_empty() {
        String::new()
    } else {
        format!(" by {}", change.by)
    };
    format!(
        "{what} {minutes} min before the alarm ({}{by})",
        change.action
    )
}

/// Runs `f` with [`recent`] answering `changes`, for a rule's native tests.
#[cfg(not(all(target_family = "wasm", not(feature = "local-statistics"))))]
pub(crate) fn with_local<T>(changes: Vec<FunctionChange>, f: impl FnOnce() -> T) -> T {
    let before = LOCAL.with(|c| c.replace(changes));
    let out = f();
    LOCAL.with(|c| c.replace(before));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(action: &str, at_ms: i64, deployment: bool) -> FunctionChange {
        FunctionChange {
            action: action.into(),
            at_ms,
            by: "alice".into(),
            deployment,
        }
    }

    #[test]
    fn the_last_deployment_is_the_newest_one_before_the_alarm() {
        let changes = [
            change("UpdateFunctionConfiguration", 9 * 60_000, false),
            change("UpdateFunctionCode", 5 * 60_000, true),
            change("PublishVersion", 2 * 60_000, true),
            change("UpdateFunctionCode", 20 * 60_000, true),
        ];
        let found = last_deployment(&changes, 10 * 60_000).unwrap();
        assert_eq!(found.at_ms, 5 * 60_000);
        assert_eq!(
            describe(found, 17 * 60_000),
            "code deployed 12 min before the alarm (UpdateFunctionCode by alice)"
        );
        assert!(last_deployment(&changes[..1], 10 * 60_000).is_none());
    }

    #[test]
    fn recent_answers_what_a_test_set() {
        assert!(recent().is_empty());
        let seen = with_local(vec![change("UpdateAlias", 1, true)], recent);
        assert_eq!(seen.len(), 1);
        assert!(recent().is_empty());
    }
}
