#!/usr/bin/env bash
# Installs the Debian packages the build and tests need, only when missing,
# so a second `make` is quick. CI runs as root on a fresh machine.
set -euo pipefail

packages=(
  # protoc for ts-proto, real gRPC peers and a load generator for tests/bench
  protobuf-compiler python3-grpcio python3-grpc-tools nghttp2-client
  # Rust crates for the native workspace, as a cargo directory source
  librust-base64-dev librust-chrono-dev librust-chrono-tz-dev librust-der-parser-dev
  librust-hmac-dev librust-ipnet-dev librust-md-5-dev librust-num-bigint-dev
  librust-num-integer-dev librust-num-traits-dev librust-pem-dev librust-rand-dev
  librust-regex-dev librust-ring-dev librust-semver-dev librust-serde-dev
  librust-serde-json-dev librust-serde-yaml-dev librust-sha1-dev librust-sha2-dev
  librust-untrusted-dev librust-uuid-dev librust-prost-dev librust-prost-derive-dev
  librust-bytes-dev librust-stacker-dev
  # test/ops: a real bundle server, and certificates for the mTLS tests
  nginx openssl
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v cargo >/dev/null || { echo "error: cargo not found (install Rust: rustup or Debian's cargo)" >&2; exit 1; }
