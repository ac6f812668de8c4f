#!/usr/bin/env bash
# The fuzzing campaign (not part of CI): every target of
# host/tests/all/fuzz.rs — alarm events, log lines, stage requests, config
# files, signatures and pins, rule output, the AI's answers, redaction — with
# CASES generated inputs each (default: a million), in release mode.
# Prints one line per target: cases, time, slowest case, and whether any
# input failed (then proptest's shrunk input follows).
#
#   tests/fuzz.sh            # a million cases per target
#   tests/fuzz.sh 10000      # a quick pass
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cases="${1:-1000000}"
echo "==> fuzzing every target with $cases cases (cargo test --release; the first build takes a while)" >&2
AUTOREPAIR_FUZZ_CASES="$cases" cargo test --release --locked -p autorepair --test all fuzz \
    -- --ignored --nocapture --test-threads "${AUTOREPAIR_FUZZ_THREADS:-2}" 2>&1 \
    | grep -E '^(fuzz |test result|minimal failing input|[a-zA-Z ]+: Test failed)' || true
