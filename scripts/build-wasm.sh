#!/usr/bin/env bash
# Builds the engine and the Envoy Check (native/wasm, the same crates as the
# addon) for wasm32-unknown-unknown, to native/wasm/sark-engine.wasm: the
# portable engine serve falls back to when the addon cannot load, and the
# module `sark-authz build -t wasm` embeds policies in.
#
# rustup's toolchain here has only the host's standard library and cannot
# download others, so std is built from source (-Z build-std) with Debian's
# rustc-web + rust-web-src, allowed to use that unstable flag by
# RUSTC_BOOTSTRAP=1. A rustup toolchain that has the wasm32 target is used
# as is. Each step probes for what it needs and installs only what is missing.
#
# usage: scripts/build-wasm.sh
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=wasm32-unknown-unknown
OUT=native/wasm/sark-engine.wasm
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export PATH="$HOME/.cargo/bin:$PATH"

# A rustc whose sysroot holds the wasm32 standard library (rustup target add).
has_wasm_std() { [ -d "$("$1" --print target-libdir --target "$TARGET" 2>/dev/null)" ] && ls "$("$1" --print target-libdir --target "$TARGET")"/libstd-*.rlib >/dev/null 2>&1; }
# A rustc that can build std from source: the library sources sit in its sysroot.
has_std_src() { [ -f "$("$1" --print sysroot 2>/dev/null)/lib/rustlib/src/rust/library/std/Cargo.toml" ]; }

build_std=()
if command -v rustc >/dev/null && has_wasm_std rustc; then
  RUSTC=$(command -v rustc); CARGO=$(command -v cargo)
else
  if ! { [ -x /usr/bin/rustc ] && has_std_src /usr/bin/rustc && [ -x /usr/bin/cargo ]; }; then
    echo "installing (apt): rustc-web cargo-web rust-web-src (std for $TARGET is built from source)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq rustc-web cargo-web rust-web-src >/dev/null
  fi
  has_std_src /usr/bin/rustc || { echo "error: /usr/bin/rustc has no library sources for -Z build-std" >&2; exit 1; }
  RUSTC=/usr/bin/rustc; CARGO=/usr/bin/cargo
  build_std=(-Z build-std=std,panic_abort)
  export RUSTC_BOOTSTRAP=1
fi

# The wasm linker: rust-lld from any rustc sysroot on the machine, else wasm-ld.
linker=""
for r in "$RUSTC" "$(command -v rustc || true)"; do
  [ -n "$r" ] || continue
  for l in "$("$r" --print sysroot)"/lib/rustlib/*/bin/rust-lld; do [ -x "$l" ] && { linker=$l; break 2; }; done
done
[ -n "$linker" ] || linker=$(command -v wasm-ld || command -v rust-lld || true)
if [ -z "$linker" ]; then
  echo "installing (apt): lld (wasm-ld)"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq lld >/dev/null
  linker=$(command -v wasm-ld)
fi

export RUSTC CARGO_TARGET_DIR="$PWD/native/target-wasm"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER="$linker"
# OPA's ABI: memory is imported (env.memory). getrandom gets entropy from the host (src/host.rs).
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS='--cfg getrandom_backend="custom" -C link-arg=--import-memory -C link-arg=-zstack-size=4194304'
# A trap, not unwinding, ends a panicking call (the host then drops the instance).
export CARGO_PROFILE_RELEASE_PANIC=abort

started=$(date +%s)
"$CARGO" build --release --locked --target "$TARGET" "${build_std[@]}" --manifest-path native/wasm/Cargo.toml
cp "$CARGO_TARGET_DIR/$TARGET/release/sark_wasm.wasm" "$OUT"
echo "built $OUT ($(stat -c %s "$OUT") bytes) in $(( $(date +%s) - started ))s"
