#!/usr/bin/env bash
# Installs the Go programs the tests use as real peers, each at a pinned
# version with `go install` into .build/go/bin (skipped when that exact
# version is already there), and prints where OPA's module (with its
# conformance suite) sits in the module cache.
#
#   opa      the oracle for conformance and the differential fuzzer
#   grpcurl  the client the README tells users to debug with
#
# usage: scripts/install-go-tools.sh            install what is missing
#        scripts/install-go-tools.sh --opa-dir  print OPA's module directory
set -euo pipefail
cd "$(dirname "$0")/.."

OPA_VERSION=v1.22.4
GRPCURL_VERSION=v1.9.3

export GOBIN="$PWD/.build/go/bin"
command -v go >/dev/null || { [ -x /usr/local/go/bin/go ] && export PATH="/usr/local/go/bin:$PATH"; }
command -v go >/dev/null || { echo "error: go not found (Go 1.26 is on these machines at /usr/local/go)" >&2; exit 1; }

opa_module_dir() {
  local dir
  dir="$(go env GOMODCACHE)/github.com/open-policy-agent/opa@$OPA_VERSION"
  [ -d "$dir/v1/test/cases/testdata" ] || (cd /tmp && go mod download github.com/open-policy-agent/opa@$OPA_VERSION)
  echo "$dir"
}

if [ "${1:-}" = "--opa-dir" ]; then opa_module_dir; exit 0; fi

mkdir -p "$GOBIN"
install_pinned() { # name module version
  local stamp="$GOBIN/.$1.version"
  if [ -x "$GOBIN/$1" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$3" ]; then return; fi
  echo "installing $1 $3 (go install $2@$3)"
  (cd /tmp && go install "$2@$3")
  echo "$3" > "$stamp"
}

install_pinned opa github.com/open-policy-agent/opa "$OPA_VERSION"
install_pinned grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl "$GRPCURL_VERSION"
opa_module_dir >/dev/null
