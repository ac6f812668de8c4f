//! The execution environment behind each report and line (since 0.2.2):
//! Lambda writes each execution environment to a log stream of its own.

/// The log stream of each report the rule was granted, in the order of
/// `evidence.reports` (empty strings where the logs came without streams).
/// Inside the sandbox the host answers; natively, and under a plain WASI
/// runner (`local-statistics`), the evidence carries no streams: empty.
pub fn report_streams() -> Vec<String> {
    #[cfg(all(target_family = "wasm", not(feature = "local-statistics")))]
    {
        crate::bindings::autorepair::rules::environments::report_streams()
    }
    #[cfg(not(all(target_family = "wasm", not(feature = "local-statistics"))))]
    {
        Vec::new()
    }
}

/// The log stream of each raw line the rule was granted, in the order of
/// `evidence.logs`; as [`report_streams`], empty outside the sandbox.
pub fn line_streams() -> Vec<String> {
    #[cfg(all(target_family = "wasm", not(feature = "local-statistics")))]
    {
        crate::bindings::autorepair::rules::environments::line_streams()
    }
    #[cfg(not(all(target_family = "wasm", not(feature = "local-statistics"))))]
    {
        Vec::new()
    }
}
