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

/// The runtime that printed an out-of-memory message found in `line`, if any.
pub fn out_of_memory(line: &str) -> Option<&'static str> {
    OUT_OF_MEMORY
        .iter()
        .find(|(needle, _)| line.contains(needle))
        .map(|&(_, runtime)| runtime)
}

/// The downstream-failure signature found in `line`, if any.
pub fn downstream(line: &str) -> Option<&'static str> {
    DOWNSTREAM
        .iter()
        .copied()
        .find(|needle| line.contains(needle))
}

/// The unhandled-error signature found in `line`, if any.
pub fn unhandled_error(line: &str) -> Option<&'static str> {
    UNHANDLED_ERROR
        .iter()
        .copied()
        .find(|needle| line.contains(needle))
}

/// Whether `line` reports a runtime killed by a signal (typically the OOM killer).
pub fn runtime_killed(line: &str) -> bool {
    line.contains(RUNTIME_EXITED) && line.contains(SIGNAL_KILLED)
}

#[cfg(test)]
mod tests {
    use super::*;

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
