#!/usr/bin/env bash
# Drives the example from alarm to verdict:
#   1. invokes the example function N times (default 20) with a payload that
#      needs more memory than it has, so it runs out of memory and its Errors
#      alarm fires (autorepair's workflow starts);
#   2. keeps the same traffic flowing for SECONDS more (default 300), one
#      invocation every 2 s, so that the verification window has invocations
#      at the new memory to judge — stop the traffic and the verdict is
#      `inconclusive`. Deploy autorepair with VerificationWindowSeconds=120
#      for the whole walk to take about five minutes.
# Prints the function's memory whenever it changes. Needs the AWS CLI v2 and
# credentials for the account the examples run in.
#
# Usage: ./trigger.sh [N] [SECONDS]
set -euo pipefail
count="${1:-20}"
seconds="${2:-300}"
function=autorepair-example-oom

invoke() {
  aws lambda invoke --function-name "$function" \
    --cli-binary-format raw-in-base64-out --payload '{"megabytes": 200}' \
    /dev/null >/dev/null 2>&1 || true
}
memory() {
  aws lambda get-function-configuration --function-name "$function" --query MemorySize --output text
}

before="$(memory)"
echo "$function has $before MB; invoking it $count times (it needs more)"
for _ in $(seq 1 "$count"); do invoke; done

echo "keeping traffic flowing for $seconds s (verification needs invocations at the new memory)"
end=$(( $(date +%s) + seconds ))
last="$before"
while [ "$(date +%s)" -lt "$end" ]; do
  invoke
  now="$(memory)"
  if [ "$now" != "$last" ]; then
    echo "$(date +%T) memory changed: $last MB -> $now MB"
    last="$now"
  fi
  sleep 2
done
echo "memory: $before MB before, $last MB now; the notice and the Step Functions execution say why"
