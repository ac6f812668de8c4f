#!/usr/bin/env bash
# The main job on a local default, no AWS account: the whole closed loop
# against moto_server on 127.0.0.1 — an out-of-memory function repaired and
# verified, then a leaking one rolled back — told as a story.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source tests/setup.sh

cargo build --release --locked -p autorepair -p autorepair-e2e >&2
"$root/target/release/demo"

# Then the A/B side, offline: the labelled corpus replayed through the rules
# (add `--config` with `[ai] enabled = true` and Bedrock access to compare the
# AI too), and the report as one HTML page.
records="$root/target/demo-ab.jsonl"
rm -f "$records"
echo
echo "== Replaying the labelled corpus (tests/fixtures/corpus) =="
"$root/target/release/autorepair" replay tests/fixtures/corpus --record "$records"
"$root/target/release/autorepair" report --records "$records" --format html \
    --output "$root/target/demo-ab-report.html"
echo "The A/B report: $root/target/demo-ab-report.html (autorepair report --records $records)"
