#!/usr/bin/env bash
# Builds the Node-API addon offline and places it, named by platform, at
# native/binding/sark-authz.<platform>.node (e.g. linux-x64-gnu), where
# src/native/ looks for it. Crates come from Debian's packages through a
# cargo directory source chosen here (not in the manifests), so the same
# Cargo.toml files build normally where crates.io is reachable.
#
# usage: scripts/build-native.sh [release|debug]
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${1:-release}
export PATH="$HOME/.cargo/bin:$PATH"
command -v cargo >/dev/null || { echo "error: cargo not found" >&2; exit 1; }

source_flag=(--config "$PWD/native/config/debian-registry.toml")
[ "${SARK_CRATES_IO:-0}" = "1" ] && source_flag=()

flags=(--platform --manifest-path native/binding/Cargo.toml --output-dir native/binding --js false --dts __ignored.d.ts)
[ "$profile" = "release" ] && flags+=(--release)

export CARGO_TARGET_DIR="$PWD/native/target"
# napi-cli forwards everything after `--` to cargo.
npx --no-install napi build "${flags[@]}" -- --offline "${source_flag[@]}"
rm -f native/binding/__ignored.d.ts
ls native/binding/*.node
