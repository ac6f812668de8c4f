#!/usr/bin/env bash
# Builds the Python rule plugins in plugins/python/ into WebAssembly components
# with componentize-py, against wit/rules.wit (the current autorepair:rules@0.2.x, world
# `rule-plugin`).
#
#   plugins/python/build.sh [OUT_DIR]      # default: <repo>/target/python-rules/
#
# componentize-py comes from PyPI into a venv: $AUTOREPAIR_PY_VENV, by default
# the repository's own .venv (the one tests/setup.sh makes for moto), installed
# only when missing or at another version. Everything generated (bindings,
# snapshots) stays in a temporary directory, never in the source tree. Safe to
# run again: each run rebuilds the components and replaces them.
set -euo pipefail

COMPONENTIZE_PY_VERSION=0.25.1

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${AUTOREPAIR_PY_VENV:-$repo/.venv}"
out="${1:-$repo/target/python-rules}"
wit="$repo/wit"
world=rule-plugin
# Each rule: a directory under plugins/python/ with an app.py; the component is
# named after the directory.
rules=(throttles-py)

say() { echo "==> $*" >&2; }
die() { echo "error: $*" >&2; exit 1; }

command -v python3 >/dev/null || die "python3 not found (needed for the venv that holds componentize-py)"
[ -f "$wit/rules.wit" ] || die "no WIT at $wit/rules.wit"

if [ ! -x "$venv/bin/python" ]; then
    say "creating venv $venv"
    python3 -m venv "$venv" || die "could not create the venv $venv (on Debian: apt-get install python3-venv)"
fi
cpy="$venv/bin/componentize-py"
have="$("$cpy" --version 2>/dev/null | awk '{print $2}' || true)"
if [ "$have" != "$COMPONENTIZE_PY_VERSION" ]; then
    say "installing componentize-py==$COMPONENTIZE_PY_VERSION into $venv${have:+ (found $have)}"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY_VERSION" \
        || die "pip could not install componentize-py==$COMPONENTIZE_PY_VERSION"
fi

mkdir -p "$out"
out="$(cd "$out" && pwd)"
build="$(mktemp -d "${TMPDIR:-/tmp}/autorepair-python-rules.XXXXXX")"
trap 'rm -rf "$build"' EXIT

# componentize-py adds $VIRTUAL_ENV's (or else the running Python's)
# site-packages to the app's search path. Only what the app imports ends up in
# the component, but keep that path predictable.
unset VIRTUAL_ENV PYTHONPATH PYTHONHOME

for rule in "${rules[@]}"; do
    [ -f "$here/$rule/app.py" ] || die "no $here/$rule/app.py"
    # componentize-py imports the app at build time (to snapshot it) and would
    # leave a __pycache__ beside it: build from a copy. It generates the
    # `wit_world` bindings itself, in a temporary directory of its own.
    work="$build/$rule"
    mkdir -p "$work"
    cp -R "$here/$rule/." "$work/src"
    rm -rf "$work/src/__pycache__"
    say "building $out/$rule.wasm (world $world of $wit)"
    start=$SECONDS
    (cd "$work" && "$cpy" -q -d "$wit" -w "$world" componentize app -p "$work/src" -o "$work/$rule.wasm") \
        || die "componentize-py failed for $rule"
    mv -f "$work/$rule.wasm" "$out/$rule.wasm"
    say "built $out/$rule.wasm ($(wc -c <"$out/$rule.wasm") bytes, $((SECONDS - start)) s)"
done
