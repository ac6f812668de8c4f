#!/usr/bin/env bash
# The main job on a local default, no AWS account: diagnose a recorded
# out-of-memory incident with every bundled rule in the sandbox and show the
# decision. (Replaced by the closed-loop demo against a local emulator.)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source tests/setup.sh

cargo build --release --locked -p autorepair >&2
bin="$root/target/release/autorepair"
for incident in oom-node downstream-timeouts-python; do
    echo
    echo "════ autorepair diagnose --evidence tests/fixtures/evidence/$incident.json"
    "$bin" diagnose --evidence "tests/fixtures/evidence/$incident.json"
done
