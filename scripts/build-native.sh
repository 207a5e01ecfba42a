#!/usr/bin/env bash
# Builds the Node-API addon and places it, named by platform, at
# native/binding/sark-authz.<platform>.node (e.g. linux-x64-gnu), where
# src/native/ looks for it. Crates come from crates.io, as Cargo.lock pins them.
#
# usage: scripts/build-native.sh [release|debug]
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${1:-release}
export PATH="$HOME/.cargo/bin:$PATH"
command -v cargo >/dev/null || { echo "error: cargo not found" >&2; exit 1; }


# index.d.ts, the addon's types (src/native imports them), is generated from the #[napi] items.
flags=(--platform --manifest-path native/binding/Cargo.toml --output-dir native/binding --no-js --dts index.d.ts)
[ "$profile" = "release" ] && flags+=(--release)

export CARGO_TARGET_DIR="$PWD/native/target"
# napi-cli forwards everything after `--` to cargo.
npx --no-install napi build "${flags[@]}" -- --locked
ls native/binding/*.node
