#!/usr/bin/env bash
# Invokes the example function N times (default 20) so it runs out of memory
# and its Errors alarm fires; then watch the autorepair workflow in the Step
# Functions console, the notice in your inbox, and the function's memory.
# Needs the AWS CLI v2 and credentials for the account the examples run in.
set -euo pipefail
count="${1:-20}"
for i in $(seq 1 "$count"); do
  aws lambda invoke --function-name autorepair-example-oom \
    --cli-binary-format raw-in-base64-out --payload '{"megabytes": 200}' \
    /dev/null >/dev/null || true
done
echo "invoked $count times; memory now:"
aws lambda get-function-configuration --function-name autorepair-example-oom --query MemorySize
