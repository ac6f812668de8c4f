#!/usr/bin/env bash
# Runs every test: the host (units, the hostile-plugin sandbox suite, the CLI),
# the end-to-end tests, and the guest crates' own tests, natively and in wasm.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source tests/setup.sh

echo "==> cfn-lint on the deployment templates" >&2
"$AUTOREPAIR_CFN_LINT" infrastructure/template.yaml infrastructure/member.yaml infrastructure/examples/template.yaml

echo "==> the Python rule plugin (componentize-py), for its twin test" >&2
AUTOREPAIR_PY_VENV="$root/.venv" plugins/python/build.sh "$root/target/python-rules"
export AUTOREPAIR_PYTHON_RULES="$root/target/python-rules"

echo "==> host and end-to-end tests (moto_server per test, on 127.0.0.1)" >&2
# One build for everything: this invocation also builds the `autorepair`
# binary the end-to-end tests run (the host's CLI tests need it) and the WASI
# runner example used below. A separate `cargo build -p autorepair` would
# resolve other features and compile the whole dependency tree a second time
# (minutes, and gigabytes of target/). (Four end-to-end tests at a time, the
# real functions' apart, measured no faster on CI's machine: 143 s + 131 s
# against 272 s.)
cargo test --workspace --locked

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
