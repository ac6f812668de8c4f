#!/usr/bin/env bash
# Checks the deployment without an AWS account, and builds it:
#   1. installs aws-sam-cli, cargo-lambda and zig (the cross-linker
#      cargo-lambda uses) into .venv-deploy, once;
#   2. sam validate --lint (cfn-lint, with SAM's own rules);
#   3. sam build for arm64 and x86_64 (BuildMethod: rust-cargolambda, the
#      beta feature samconfig.toml turns on), into target/sam/<arch>.
#
# Usage: infrastructure/check.sh [--validate-only] [ARCH...]
#   --validate-only   steps 1 and 2 only (seconds, not minutes)
#   ARCH              arm64 and/or x86_64 (default: both)
#
# Its own venv, not .venv: aws-sam-cli pins versions of boto3 and cfn-lint that
# the test tools (moto) do not share.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-deploy"

validate_only=false
archs=()
for arg in "$@"; do
    case "$arg" in
        --validate-only) validate_only=true ;;
        arm64|x86_64) archs+=("$arg") ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "unknown argument: $arg (see --help)" >&2; exit 2 ;;
    esac
done
[ ${#archs[@]} -eq 0 ] && archs=(arm64 x86_64)

if ! command -v cargo >/dev/null 2>&1; then
    echo "needs Rust (cargo): install it with rustup from https://rustup.rs" >&2
    exit 1
fi
if [ ! -x "$venv/bin/sam" ] || [ ! -x "$venv/bin/cargo-lambda" ]; then
    echo "==> installing aws-sam-cli, cargo-lambda and zig into $venv" >&2
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        'aws-sam-cli>=1.140,<2' 'cargo-lambda>=1.8,<2' 'ziglang>=0.13' >&2
fi
# cargo-lambda finds zig on PATH; the ziglang wheel ships it as a module.
if [ ! -x "$venv/bin/zig" ]; then
    printf '#!/bin/sh\nexec "%s" -m ziglang "$@"\n' "$venv/bin/python" > "$venv/bin/zig"
    chmod +x "$venv/bin/zig"
fi
export PATH="$venv/bin:$PATH"
export SAM_CLI_TELEMETRY=0

cd "$root/infrastructure"
echo "==> sam validate --lint" >&2
sam validate --lint --template-file template.yaml --region us-east-1
sam validate --lint --template-file examples/template.yaml --region us-east-1

$validate_only && exit 0

rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2 >&2
for arch in "${archs[@]}"; do
    case "$arch" in
        arm64) target=aarch64-unknown-linux-gnu ;;
        x86_64) target=x86_64-unknown-linux-gnu ;;
    esac
    rustup target list --installed | grep -qx "$target" || rustup target add "$target" >&2
    echo "==> sam build ($arch)" >&2
    start=$(date +%s)
    sam build --template-file template.yaml \
        --parameter-overrides "Architecture=$arch" \
        --build-dir "$root/target/sam/$arch"
    bootstrap="$root/target/sam/$arch/HostFunction/bootstrap"
    [ -x "$bootstrap" ] || { echo "no bootstrap in $root/target/sam/$arch/HostFunction" >&2; exit 1; }
    echo "==> $arch: $(( $(date +%s) - start )) s, bootstrap $(du -h "$bootstrap" | cut -f1)" >&2
done
