#!/usr/bin/env bash
# Builds the rule interface as a WIT package — a WebAssembly binary that an
# OCI registry (ghcr.io, ECR, …) can hold and `wkg get` can fetch — with wkg
# (wasm-pkg-tools), into target/wit/autorepair-rules-<version>.wasm.
#
# Usage: wit/package.sh [--publish]
#   --publish   then `wkg publish` it: the registry comes from wkg's own
#               configuration (`wkg config --edit`; wit/README.md shows one)
#
# Installs wkg with cargo the first time (about 9 minutes of compiling on two
# cores), which is why CI leaves this script out: run it for a release.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
wkg_version=0.16.1
tools="$root/target/tools"

publish=false
for arg in "$@"; do
    case "$arg" in
        --publish) publish=true ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "unknown argument: $arg (see --help)" >&2; exit 2 ;;
    esac
done

if ! command -v cargo >/dev/null 2>&1; then
    echo "needs Rust (cargo): install it with rustup from https://rustup.rs" >&2
    exit 1
fi
wkg="$tools/bin/wkg"
if ! "$wkg" --version 2>/dev/null | grep -qx "wkg $wkg_version"; then
    echo "==> installing wkg $wkg_version into $tools (once; several minutes)" >&2
    cargo install wkg --version "$wkg_version" --locked --root "$tools" >&2
fi

# The package's name and version, as rules.wit declares them.
package="$(sed -n 's/^package \(autorepair:rules@[0-9.]*\);$/\1/p' "$root/wit/rules.wit")"
if [ -z "$package" ]; then
    echo "wit/rules.wit declares no autorepair:rules@<version> package" >&2
    exit 1
fi
version="${package#*@}"
out="$root/target/wit"
mkdir -p "$out"
wasm="$out/autorepair-rules-$version.wasm"
# wkg writes its lock file (no dependencies: an empty one) where it runs.
(cd "$out" && "$wkg" build --wit-dir "$root/wit" --output "$wasm" >&2)

# A component-model binary (\0asm, layer 1) defining every interface of the
# package, the rules' own export among them.
magic="$(head -c 8 "$wasm" | od -An -tx1 | tr -d ' \n')"
if [ "$magic" != "0061736d0d000100" ]; then
    echo "$wasm is not a WebAssembly component (header $magic)" >&2
    exit 1
fi
for interface in $(sed -n 's/^interface \([a-z-]*\) {$/\1/p' "$root/wit/rules.wit"); do
    if ! grep -aq "autorepair:rules/$interface@$version" "$wasm"; then
        echo "$wasm does not define autorepair:rules/$interface@$version" >&2
        exit 1
    fi
done
echo "$package → $wasm ($(wc -c < "$wasm") bytes, sha256 $(sha256sum "$wasm" | cut -d' ' -f1))"

if $publish; then
    "$wkg" publish "$wasm"
fi
