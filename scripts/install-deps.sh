#!/usr/bin/env bash
# Installs what the build, the server and the tests need on a brand-new
# machine. Every step probes for the capability it needs (a binary that runs,
# a header protoc can import, a Python module that imports) instead of
# trusting package names, and installs only what is missing, so a second
# `make` is quick. CI runs as root on a fresh machine; elsewhere sudo is used.
#
#   system   protoc with the well-known types, h2load, nginx, openssl (apt)
#   python   .build/venv with grpcio + grpcio-tools (PyPI), whichever python3 is first on PATH
#   go-tools opa, grpcurl (go install, pinned; scripts/install-go-tools.sh)
#
# usage: scripts/install-deps.sh [system|python|go-tools|all]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
apt_updated=0
apt_install() {
  [ $apt_updated -eq 1 ] || { $SUDO apt-get update -qq; apt_updated=1; }
  echo "installing (apt): $*"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

# protoc must compile a file that imports a well-known type: the .proto files
# live in libprotobuf-dev, not in protobuf-compiler.
protoc_works() {
  command -v protoc >/dev/null || return 1
  local d; d=$(mktemp -d)
  printf 'syntax = "proto3";\nimport "google/protobuf/timestamp.proto";\nmessage T { google.protobuf.Timestamp t = 1; }\n' > "$d/t.proto"
  protoc -I "$d" --include_imports --descriptor_set_out="$d/out.bin" "$d/t.proto" 2>/dev/null
  local rc=$?; rm -rf "$d"; return $rc
}

system() {
  local need=()
  protoc_works || need+=(protobuf-compiler libprotobuf-dev)
  command -v h2load >/dev/null || need+=(nghttp2-client)
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
  command -v openssl >/dev/null || need+=(openssl)
  command -v python3 >/dev/null || need+=(python3 python3-venv)
  [ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"
  protoc_works || { echo "error: protoc cannot import google/protobuf/timestamp.proto" >&2; exit 1; }
  command -v cargo >/dev/null || [ -x "$HOME/.cargo/bin/cargo" ] || { echo "error: cargo not found (install Rust with rustup)" >&2; exit 1; }
}

# The Python gRPC client tests run in their own venv, so they do not depend on
# which python3 comes first on PATH or what its site-packages hold.
python() {
  local venv=.build/venv
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import grpc, grpc_tools' 2>/dev/null; then return; fi
  echo "creating $venv (grpcio, grpcio-tools from PyPI)"
  rm -rf "$venv"
  if ! python3 -m venv "$venv" 2>/dev/null; then apt_install python3-venv; rm -rf "$venv"; /usr/bin/python3 -m venv "$venv"; fi
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r test/python/requirements.txt
  "$venv/bin/python" -c 'import grpc, grpc_tools'
}

case "${1:-all}" in
  system) system ;;
  python) python ;;
  go-tools) scripts/install-go-tools.sh ;;
  all) system; python; scripts/install-go-tools.sh ;;
  *) echo "usage: $0 [system|python|go-tools|all]" >&2; exit 2 ;;
esac
