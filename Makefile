# sark-authz — one entry point for building, running and testing.
# `make run` and `make test` work on a fresh machine: they install what is
# missing (apt packages, a Python venv, pinned Go tools, npm packages), then build.

SHELL := /bin/bash
.DEFAULT_GOAL := build

CARGO        ?= cargo
NAPI         := npx napi
POLICY       ?= envoy/policies/example.rego
ADDR         ?= 127.0.0.1:9191

.PHONY: build deps test-deps native native-debug wasm gen ts run test test-rust test-node conformance conformance-wasm fuzz-opa bench bench-opa bench-engine bench-instructions clean

## build: install missing system/npm packages, build the native addon and the wasm engine, generate proto types, compile TypeScript.
build: deps native wasm gen ts

deps:
	@scripts/install-deps.sh system

## test-deps: what only the tests need: a Python venv with grpcio, and opa + grpcurl at pinned versions.
test-deps:
	@scripts/install-deps.sh python
	@scripts/install-deps.sh go-tools

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

native: node_modules/.package-lock.json
	@scripts/build-native.sh release

native-debug: node_modules/.package-lock.json
	@scripts/build-native.sh debug

## wasm: the engine and the Envoy Check for wasm32 (native/wasm/sark-engine.wasm): the fallback without the addon, and `build -t wasm`.
wasm:
	@scripts/build-wasm.sh

## gen: TypeScript types for the Envoy protos, via protoc + ts-proto (reproducible; output committed under src/gen).
gen: node_modules/.package-lock.json
	@scripts/gen-proto.sh

ts: node_modules/.package-lock.json
	npx tsc -p tsconfig.json

## run: serve the example policy on 127.0.0.1:9191.
run: build
	node bin/sark-authz.js serve --policy $(POLICY) --addr $(ADDR)

## test: every suite (Rust unit tests, conformance, mocha); ends with one `N passed, N failed` line.
test: build test-deps
	@node scripts/run-tests.js

test-rust:
	cd native && $(CARGO) test --locked --workspace

## conformance: OPA v1.22.4's whole conformance suite from its Go module (testdata/v1, and testdata/v0 in v0 mode),
## per-case reports in .build/, markdown summaries.
conformance: build test-deps
	@cases="$$(scripts/install-go-tools.sh --opa-dir)/v1/test/cases/testdata"; \
	node bin/sark-authz.js test-suite "$$cases/v1" --report .build/conformance-v1.json; \
	node bin/sark-authz.js test-suite --v0-compatible "$$cases/v0" --report .build/conformance-v0.json; \
	node scripts/conformance-summary.js .build/conformance-v1.json > .build/conformance-v1.md; \
	node scripts/conformance-summary.js .build/conformance-v0.json > .build/conformance-v0.md
	@echo 'summaries: .build/conformance-v1.md .build/conformance-v0.md'

## conformance-wasm: the same suites without the addon (SARK_NATIVE=0: the engine in WebAssembly);
## every case the committed baselines list as passing must pass.
conformance-wasm: build test-deps
	@cases="$$(scripts/install-go-tools.sh --opa-dir)/v1/test/cases/testdata"; \
	SARK_NATIVE=0 node bin/sark-authz.js test-suite "$$cases/v1" --baseline test/conformance/baseline-v1.json && \
	SARK_NATIVE=0 node bin/sark-authz.js test-suite --v0-compatible "$$cases/v0" --baseline test/conformance/baseline-v0.json

## fuzz-opa: differential fuzzing against opa (N programs of SEED from START; SAVE=dir keeps minimised mismatches).
N     ?= 100000
SEED  ?= long
START ?= 0
fuzz-opa: build test-deps
	node dist/test/fuzz-opa/fuzz.js --seed $(SEED) --start $(START) --count $(N) --progress 1000 --report .build/fuzz-opa-$(SEED).json $(if $(SAVE),--save $(SAVE) -v,)

bench: build
	node bench/grpc-bench.js --requests 40000 --rounds 12

# The engine against the real opa per evaluation (sark-authz bench vs opa bench, interleaved rounds).
bench-opa: build test-deps
	node bench/vs-opa.js

bench-engine: build
	node bench/engine.js

# Instructions per request of each server mode, under valgrind's callgrind (apt-get install valgrind).
bench-instructions: build
	node bench/instructions.js

clean:
	rm -rf dist native/target native/target-* .build native/binding/*.node

.PHONY: fuzz fuzz-install soak soak-short

# Coverage-guided fuzzing (cargo-fuzz; installs nightly + cargo-fuzz when missing): each
# target of native/fuzz for FUZZ_SECONDS (default 120), growing its corpus. CI replays the
# committed corpora on every `cargo test` (native/envoy/tests/fuzz_corpus.rs).
fuzz: build
	FUZZ_SECONDS=$(or $(FUZZ_SECONDS),120) scripts/fuzz.sh run $(FUZZ_TARGETS)

fuzz-install:
	scripts/fuzz.sh install

# The real server for 30 minutes at half of its max load: varied requests, policy swaps,
# RSS sampled (must level off), zero failed Checks, p99 in .build/soak.json.
soak: build
	node bench/soak.js --minutes 30

soak-short: build
	node bench/soak.js --minutes 1 --swap-seconds 10 --calibrate-seconds 3
