#!/usr/bin/env bash
# The main job on a local default, no AWS account: the whole closed loop
# against moto_server on 127.0.0.1 — an out-of-memory function repaired and
# verified, then a leaking one rolled back — told as a story.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source tests/setup.sh

cargo build --release --locked -p autorepair -p autorepair-e2e >&2
exec "$root/target/release/demo"
