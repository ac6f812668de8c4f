//! A simulated Lambda workload: the lines Lambda would log — START, REPORT,
//! runtime messages — for invocations of a function with a given memory size
//! and behaviour. Too little memory gives out-of-memory failures, enough gives
//! healthy invocations, so a real repair shows up as healthy data afterwards.

use autorepair_core::model::Millis;

/// How the simulated function behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Behaviour {
    /// Needs `need_mb`: with less, one invocation in four runs out of memory.
    NeedsMemory { need_mb: u32 },
    /// Inputs of eight sizes, the largest needing `need_mb`: the invocations
    /// whose input needs more than the memory run out of it, so each step up
    /// fixes a share. At `breaks_at_mb` or more, the runtime crashes on every
    /// invocation (a step that makes things worse).
    Varied {
        need_mb: u32,
        breaks_at_mb: Option<u32>,
    },
    /// Leaks: uses all the memory it has and fails, whatever its size.
    Leak,
    /// Healthy, but throttled by its concurrency limit.
    Throttled,
    /// One invocation in five times out waiting on a downstream call.
    DownstreamTimeouts,
}

/// The log lines of a burst of invocations, and the metric counts they imply.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Traffic {
    /// (timestamp, message), in time order.
    pub lines: Vec<(Millis, String)>,
    pub invocations: f64,
    pub errors: f64,
    pub throttles: f64,
}

/// `count` invocations spread over [start_ms, end_ms), numbered from `first`
/// (request ids and the failure pattern follow the number).
pub fn traffic(
    behaviour: Behaviour,
    memory_mb: u32,
    count: usize,
    start_ms: Millis,
    end_ms: Millis,
    first: u64,
) -> Traffic {
    let step = ((end_ms - start_ms).max(1) / count.max(1) as i64).max(1);
    let mut t = Traffic {
        invocations: count as f64,
        ..Traffic::default()
    };
    for i in 0..count {
        let n = first + i as u64;
        let at = start_ms + i as i64 * step;
        let (lines, failed) = invocation(behaviour, &request_id(n), memory_mb, n);
        if failed {
            t.errors += 1.0;
        }
        if behaviour == Behaviour::Throttled && n.is_multiple_of(3) {
            t.throttles += 1.0;
        }
        t.lines.extend(lines.into_iter().map(|l| (at, l)));
    }
    t
}

/// A request id for invocation `n`.
pub fn request_id(n: u64) -> String {
    format!("{:08x}-1b2d-4c5e-9f70-{:012x}", n as u32, n)
}

/// The log lines of one invocation, and whether it failed.
pub fn invocation(behaviour: Behaviour, id: &str, memory: u32, n: u64) -> (Vec<String>, bool) {
    let report = |duration: f64, used: u32, status: Option<(&str, Option<&str>)>| {
        let mut line = format!(
            "REPORT RequestId: {id}\tDuration: {duration:.2} ms\tBilled Duration: {} ms\tMemory Size: {memory} MB\tMax Memory Used: {used} MB\t",
            duration.ceil()
        );
        if let Some((status, error_type)) = status {
            line.push_str(&format!("Status: {status}\t"));
            if let Some(t) = error_type {
                line.push_str(&format!("Error Type: {t}\t"));
            }
        }
        line
    };
    let start = format!("START RequestId: {id} Version: $LATEST");
    match behaviour {
        Behaviour::NeedsMemory { need_mb } if memory < need_mb && n.is_multiple_of(4) => (
            vec![
                start,
                "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory"
                    .into(),
                format!(
                    "RequestId: {id} Error: Runtime exited with error: signal: killed\nRuntime.ExitError"
                ),
                report(950.0, memory, Some(("error", Some("Runtime.OutOfMemory")))),
            ],
            true,
        ),
        Behaviour::NeedsMemory { need_mb } => {
            let used = (need_mb * 8 / 10).min(memory * 8 / 10).max(40);
            (
                vec![start, report(180.0 + (n % 7) as f64, used, None)],
                false,
            )
        }
        Behaviour::Varied {
            breaks_at_mb: Some(at),
            ..
        } if memory >= at => (
            vec![
                start,
                format!(
                    "RequestId: {id} Error: Runtime exited with error: exit status 134\nRuntime.ExitError"
                ),
                report(40.0, memory / 5, Some(("error", Some("Runtime.ExitError")))),
            ],
            true,
        ),
        Behaviour::Varied { need_mb, .. } => {
            let needs = need_mb * ((n % 8) as u32 + 1) / 8;
            if needs > memory {
                (
                    vec![
                        start,
                        format!(
                            "RequestId: {id} Error: Runtime exited with error: signal: killed\nRuntime.ExitError"
                        ),
                        report(900.0, memory, Some(("error", Some("Runtime.OutOfMemory")))),
                    ],
                    true,
                )
            } else {
                let used = needs.max(40).min(memory);
                (
                    vec![start, report(150.0 + (n % 7) as f64, used, None)],
                    false,
                )
            }
        }
        Behaviour::Leak if n.is_multiple_of(3) => (
            vec![
                start,
                "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory"
                    .into(),
                report(700.0, memory, Some(("error", Some("Runtime.OutOfMemory")))),
            ],
            true,
        ),
        Behaviour::Leak => (vec![start, report(300.0, memory * 97 / 100, None)], false),
        Behaviour::Throttled => (vec![start, report(45.0, memory * 4 / 10, None)], false),
        Behaviour::DownstreamTimeouts if n.is_multiple_of(5) => (
            vec![
                start,
                format!(
                    "2026-01-01T00:00:00.000Z\t{id}\tERROR\tError: connect ETIMEDOUT 10.0.3.7:5432"
                ),
                format!("2026-01-01T00:00:06.000Z {id} Task timed out after 6.00 seconds"),
                report(6000.0, memory * 3 / 10, Some(("timeout", None))),
            ],
            true,
        ),
        Behaviour::DownstreamTimeouts => (vec![start, report(350.0, memory * 3 / 10, None)], false),
    }
}
