#!/usr/bin/env bash
# Installs what autorepair's build and tests need, idempotently: the
# wasm32-wasip2 Rust target (rule plugins are built for it). Sourced by
# tests/test.sh and tests/demo.sh; safe to run on its own.
set -euo pipefail

if ! command -v cargo >/dev/null 2>&1; then
    echo "autorepair needs Rust (cargo): install it with rustup from https://rustup.rs" >&2
    exit 1
fi

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    echo "==> installing the wasm32-wasip2 Rust target (rule plugins are built for it)" >&2
    rustup target add wasm32-wasip2 >&2
fi

# moto_server, the local AWS emulator the end-to-end tests and the demo run
# against, in a venv of the repository's own.
venv="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.venv"
if [ ! -x "$venv/bin/moto_server" ]; then
    echo "==> installing moto[server] into $venv (the local AWS emulator)" >&2
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]>=5.1,<6' >&2
fi
if [ ! -x "$venv/bin/cfn-lint" ]; then
    echo "==> installing cfn-lint into $venv (validates the deployment templates)" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'cfn-lint>=1,<2' >&2
fi
# aws-sam-translator (what `sam deploy` and CloudFormation's AWS::Serverless
# transform run) turns the SAM template into the one the tests create in
# moto's CloudFormation.
if ! "$venv/bin/python" -c 'import samtranslator' 2>/dev/null; then
    echo "==> installing aws-sam-translator into $venv (creates the stack in moto)" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'aws-sam-translator>=1.90,<2' >&2
fi
# componentize-py builds the Python rule (plugins/python) the tests check
# against its Rust twin; plugins/python/build.sh pins the same version.
if [ ! -x "$venv/bin/componentize-py" ]; then
    echo "==> installing componentize-py into $venv (builds the Python rule plugin)" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'componentize-py==0.25.1' >&2
fi
export AUTOREPAIR_MOTO_SERVER="$venv/bin/moto_server"
export AUTOREPAIR_CFN_LINT="$venv/bin/cfn-lint"
