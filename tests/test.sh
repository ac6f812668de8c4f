#!/usr/bin/env bash
# Runs every test: the host (units, the hostile-plugin sandbox suite, the CLI),
# the end-to-end tests, and the guest crates' own tests, natively and in wasm.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source tests/setup.sh

echo "==> cfn-lint on the deployment templates" >&2
"$AUTOREPAIR_CFN_LINT" infrastructure/template.yaml infrastructure/examples/template.yaml

echo "==> the Python rule plugin (componentize-py), for its twin test" >&2
AUTOREPAIR_PY_VENV="$root/.venv" plugins/python/build.sh "$root/target/python-rules"
export AUTOREPAIR_PYTHON_RULES="$root/target/python-rules"

echo "==> host tests: units, the sandbox against hostile plugins, the CLI" >&2
# Every invocation names the whole workspace, so Cargo resolves the same
# features each time and builds everything once: this one also builds the
# `autorepair` binary the end-to-end tests run and the WASI runner example
# used below (a separate `cargo build -p autorepair` would resolve other
# features and compile the whole dependency tree a second time).
cargo test --workspace --locked --lib --bins --examples --test all
cargo test --workspace --locked --doc

echo "==> end-to-end tests (moto_server per test, on 127.0.0.1)" >&2
# They wait on moto and on child processes more than they compute: four at a
# time take half the wall time of two. The real functions' scenarios time
# what they run (CPU-bound timeouts, memory cgroups), so they run after the
# others, two at a time, with the machine to themselves.
cargo test --workspace --locked --test e2e -- --skip real_functions:: --test-threads 4
cargo test --workspace --locked --test e2e -- real_functions::

echo "==> rule SDK and bundled rules, natively" >&2
(cd plugins && cargo test --workspace --locked)

echo "==> rule SDK and bundled rules, in WebAssembly (wasmtime)" >&2
runner="$root/target/debug/examples/wasi_run"
[ -x "$runner" ] || { echo "$runner was not built by cargo test" >&2; exit 1; }
export CARGO_TARGET_WASM32_WASIP2_RUNNER="$runner"
# local-statistics: the rules compute their statistics themselves, as a plain
# WASI runner offers no `statistics` import (the host's sandbox does).
(cd plugins && cargo test --locked --target wasm32-wasip2 \
    --features autorepair-rule-sdk/local-statistics \
    -p autorepair-lambda -p autorepair-rule-sdk \
    -p oom -p memory-pressure -p timeouts -p throttles -p code-errors)
