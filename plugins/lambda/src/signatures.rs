//! Text signatures of Lambda failures.
//!
//! One list, used twice: the host's log parser turns lines into invocation
//! reports with it, and the guest SDK scans raw lines with it for rules that were
//! granted `logs`. Matching is plain substring search: these strings are printed
//! by language runtimes and the Lambda service, so they are stable and exact.

/// Out-of-memory messages, by the runtime that prints them.
pub const OUT_OF_MEMORY: &[(&str, &str)] = &[
    ("JavaScript heap out of memory", "nodejs"),
    ("java.lang.OutOfMemoryError", "java"),
    ("fatal error: runtime: out of memory", "go"),
    ("OutOfMemoryException", "dotnet"),
    ("failed to allocate memory (NoMemoryError)", "ruby"),
    ("Runtime.OutOfMemory", "lambda"),
    // Last: Java's and Ruby's messages contain it too.
    ("MemoryError", "python"),
];

/// Messages that say a call to something downstream timed out or could not
/// connect: more memory (and so more CPU) does not fix these.
pub const DOWNSTREAM: &[&str] = &[
    "ETIMEDOUT",
    "ESOCKETTIMEDOUT",
    "ECONNREFUSED",
    "ECONNRESET",
    "EAI_AGAIN",
    "socket hang up",
    "Read timed out",
    "ReadTimeoutError",
    "ConnectTimeoutError",
    "Connect timeout on endpoint",
    "context deadline exceeded",
    "Connection refused",
    "Connection reset by peer",
    "connection timed out",
    "SocketTimeoutException",
    "HttpTimeoutException",
];

/// The Lambda service's line for an invocation that ran past its timeout.
pub const TASK_TIMED_OUT: &str = "Task timed out after";

/// The Lambda service's line for a runtime process that died (`signal: killed`
/// is what the kernel's OOM killer leaves behind).
pub const RUNTIME_EXITED: &str = "Runtime exited with error";

/// How older runtimes (Node.js up to 8.10, and others before 2019) said their
/// process died: not an out of memory by itself (it follows crashes of every
/// kind).
pub const PROCESS_EXITED: &str = "Process exited before completing request";

/// Lines a runtime writes when the function's own code failed: an unhandled
/// exception, a handler or module that cannot be loaded. Evidence of a code
/// error, never of a memory problem.
pub const UNHANDLED_ERROR: &[&str] = &[
    "LAMBDA_WARNING: Unhandled exception",
    "Traceback (most recent call last)",
    "Runtime.ImportModuleError",
    "Runtime.HandlerNotFound",
    "Runtime.UserCodeSyntaxError",
    "Runtime.InvalidEntrypoint",
    "Runtime.UnhandledPromiseRejection",
    "Runtime.MalformedHandlerName",
    "\"errorType\"",
    "Invoke Error",
    PROCESS_EXITED,
];

/// `signal: killed` inside a runtime-exit line.
pub const SIGNAL_KILLED: &str = "signal: killed";

/// Every signature of one line, found in one pass: the first of each list
/// (in the list's order, which settles overlaps such as Java's
/// `OutOfMemoryError` containing Python's `MemoryError`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Found {
    /// The runtime whose out-of-memory message is in the line.
    pub out_of_memory: Option<&'static str>,
    /// The downstream-failure signature.
    pub downstream: Option<&'static str>,
    /// The unhandled-error signature.
    pub unhandled_error: Option<&'static str>,
    /// [`TASK_TIMED_OUT`] is in the line.
    pub timed_out: bool,
    /// [`RUNTIME_EXITED`] is in the line.
    pub runtime_exited: bool,
    /// [`PROCESS_EXITED`] is in the line.
    pub process_exited: bool,
    /// [`SIGNAL_KILLED`] is in the line.
    pub signal_killed: bool,
}

impl Found {
    /// A runtime killed by a signal (typically the OOM killer).
    pub fn runtime_killed(&self) -> bool {
        self.runtime_exited && self.signal_killed
    }
}

/// What a pattern of the automaton stands for.
#[derive(Clone, Copy)]
enum Kind {
    OutOfMemory(usize),
    Downstream(usize),
    Unhandled(usize),
    TimedOut,
    RuntimeExited,
    SignalKilled,
}

struct Automaton {
    searcher: aho_corasick::AhoCorasick,
    kinds: Vec<Kind>,
}

/// Built once per process (or per rule instance in WebAssembly).
static AUTOMATON: std::sync::LazyLock<Automaton> = std::sync::LazyLock::new(|| {
    let mut patterns: Vec<&'static str> = Vec::new();
    let mut kinds = Vec::new();
    for (i, (needle, _)) in OUT_OF_MEMORY.iter().enumerate() {
        patterns.push(needle);
        kinds.push(Kind::OutOfMemory(i));
    }
    for (i, needle) in DOWNSTREAM.iter().enumerate() {
        patterns.push(needle);
        kinds.push(Kind::Downstream(i));
    }
    for (i, needle) in UNHANDLED_ERROR.iter().enumerate() {
        patterns.push(needle);
        kinds.push(Kind::Unhandled(i));
    }
    for (needle, kind) in [
        (TASK_TIMED_OUT, Kind::TimedOut),
        (RUNTIME_EXITED, Kind::RuntimeExited),
        (SIGNAL_KILLED, Kind::SignalKilled),
    ] {
        patterns.push(needle);
        kinds.push(kind);
    }
    // PROCESS_EXITED is in UNHANDLED_ERROR too: one pattern, both meanings.
    let searcher = aho_corasick::AhoCorasick::new(&patterns)
        .expect("the signatures are a few dozen short literals");
    Automaton { searcher, kinds }
});

/// Every signature in `line`, in one pass over it.
pub fn scan(line: &str) -> Found {
    let automaton = &*AUTOMATON;
    let mut first = [usize::MAX; 3];
    let mut found = Found::default();
    for m in automaton.searcher.find_overlapping_iter(line) {
        match automaton.kinds[m.pattern().as_usize()] {
            Kind::OutOfMemory(i) => first[0] = first[0].min(i),
            Kind::Downstream(i) => first[1] = first[1].min(i),
            Kind::Unhandled(i) => {
                first[2] = first[2].min(i);
                if UNHANDLED_ERROR[i] == PROCESS_EXITED {
                    found.process_exited = true;
                }
            }
            Kind::TimedOut => found.timed_out = true,
            Kind::RuntimeExited => found.runtime_exited = true,
            Kind::SignalKilled => found.signal_killed = true,
        }
    }
    found.out_of_memory = OUT_OF_MEMORY.get(first[0]).map(|&(_, runtime)| runtime);
    found.downstream = DOWNSTREAM.get(first[1]).copied();
    found.unhandled_error = UNHANDLED_ERROR.get(first[2]).copied();
    found
}

/// The runtime that printed an out-of-memory message found in `line`, if any.
pub fn out_of_memory(line: &str) -> Option<&'static str> {
    scan(line).out_of_memory
}

/// The downstream-failure signature found in `line`, if any.
pub fn downstream(line: &str) -> Option<&'static str> {
    scan(line).downstream
}

/// The unhandled-error signature found in `line`, if any.
pub fn unhandled_error(line: &str) -> Option<&'static str> {
    scan(line).unhandled_error
}

/// Whether `line` reports a runtime killed by a signal (typically the OOM killer).
pub fn runtime_killed(line: &str) -> bool {
    scan(line).runtime_killed()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-pass scan finds what a `contains` per pattern finds, first in
    /// each list's order, on lines made of signatures and noise.
    #[test]
    fn the_scan_agrees_with_one_search_per_pattern() {
        let mut pieces: Vec<&str> = OUT_OF_MEMORY.iter().map(|(n, _)| *n).collect();
        pieces.extend(DOWNSTREAM);
        pieces.extend(UNHANDLED_ERROR);
        pieces.extend([
            TASK_TIMED_OUT,
            RUNTIME_EXITED,
            SIGNAL_KILLED,
            "noise ",
            "Error",
            "Memory",
            "Out",
        ]);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..5_000 {
            let mut line = String::new();
            for _ in 0..(seed % 5) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                line.push_str(pieces[(seed % pieces.len() as u64) as usize]);
            }
            let found = scan(&line);
            let slow_oom = OUT_OF_MEMORY
                .iter()
                .find(|(n, _)| line.contains(n))
                .map(|&(_, r)| r);
            assert_eq!(found.out_of_memory, slow_oom, "{line}");
            assert_eq!(
                found.downstream,
                DOWNSTREAM.iter().copied().find(|n| line.contains(n)),
                "{line}"
            );
            assert_eq!(
                found.unhandled_error,
                UNHANDLED_ERROR.iter().copied().find(|n| line.contains(n)),
                "{line}"
            );
            assert_eq!(found.timed_out, line.contains(TASK_TIMED_OUT), "{line}");
            assert_eq!(
                found.process_exited,
                line.contains(PROCESS_EXITED),
                "{line}"
            );
            assert_eq!(
                found.runtime_killed(),
                line.contains(RUNTIME_EXITED) && line.contains(SIGNAL_KILLED),
                "{line}"
            );
        }
    }

    #[test]
    fn finds_each_runtimes_out_of_memory_message() {
        assert_eq!(
            out_of_memory(
                "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory"
            ),
            Some("nodejs")
        );
        assert_eq!(
            out_of_memory("[ERROR] MemoryError\nTraceback"),
            Some("python")
        );
        assert_eq!(
            out_of_memory(
                "Exception in thread \"main\" java.lang.OutOfMemoryError: Java heap space"
            ),
            Some("java")
        );
        assert_eq!(
            out_of_memory("fatal error: runtime: out of memory"),
            Some("go")
        );
        assert_eq!(
            out_of_memory("Unhandled exception. System.OutOfMemoryException"),
            Some("dotnet")
        );
        assert_eq!(
            out_of_memory("failed to allocate memory (NoMemoryError)"),
            Some("ruby")
        );
        assert_eq!(out_of_memory("all good"), None);
    }

    #[test]
    fn finds_downstream_failures_and_killed_runtimes() {
        assert_eq!(
            downstream("Error: connect ETIMEDOUT 10.0.0.1:443"),
            Some("ETIMEDOUT")
        );
        assert_eq!(downstream("done"), None);
        assert!(runtime_killed(
            "Error: Runtime exited with error: signal: killed Runtime.ExitError"
        ));
        assert!(!runtime_killed("Runtime exited with error: exit status 1"));
    }
}
