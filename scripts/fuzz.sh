#!/usr/bin/env bash
# Coverage-guided fuzzing of the native code with cargo-fuzz (libFuzzer).
#   scripts/fuzz.sh install            nightly toolchain + cargo-fuzz, if missing
#   scripts/fuzz.sh build              build every target
#   scripts/fuzz.sh run [TARGET...]    each target for FUZZ_SECONDS (default 120),
#                                      growing native/fuzz/corpus/<target>
# Crashes land in native/fuzz/artifacts/<target>/: fix them, then copy the
# input into native/fuzz/corpus/<target>/ so `cargo test` replays it for good
# (native/envoy/tests/fuzz_corpus.rs).
set -euo pipefail
cd "$(dirname "$0")/../native/fuzz"

CARGO_FUZZ_VERSION=0.13.2
FUZZ_SECONDS=${FUZZ_SECONDS:-120}

install() {
  rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
  if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
  fi
}

targets() {
  if [ $# -gt 0 ]; then printf '%s\n' "$@"; else cargo +nightly fuzz list; fi
}

case "${1:-run}" in
  install) install ;;
  build) install; cargo +nightly fuzz build ;;
  run)
    shift || true
    install
    for t in $(targets "$@"); do
      mkdir -p "corpus/$t"
      echo "== fuzz $t for ${FUZZ_SECONDS}s"
      # -rss_limit_mb: the evaluation memory bound plus room; -timeout: one input.
      cargo +nightly fuzz run "$t" "corpus/$t" -- \
        -max_total_time="$FUZZ_SECONDS" \
        -rss_limit_mb=2048 -timeout=10 -max_len=65536 -print_final_stats=1 2>&1 | tee "../../.build/fuzz-$t.log" | grep -E '^(#[0-9]+.*DONE|stat::|==[0-9]+==|SUMMARY|Done)' || true
    done
    ;;
  *) echo "usage: $0 install|build|run [target...]" >&2; exit 2 ;;
esac
