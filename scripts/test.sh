#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12: the Rust workspace (cargo test) and the Node
# package npm/framex (its addon built from source, then node --test, including the
# compatibility tests against the published @hyperframes/engine 0.8.33). `.ci/run` calls this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --workspace
cd npm/framex
# --ignore-scripts: the dev dependency @hyperframes/engine pulls in puppeteer, whose install
# step would download Chrome (never used: the tests import the engine without a browser).
[ -d node_modules/@napi-rs/cli ] && [ -d node_modules/@hyperframes/engine ] || npm ci --ignore-scripts --no-audit --no-fund
# The addon in the dev profile: it reuses what `cargo test` just compiled (a release build
# would compile FFmpeg's bindings and every dependency again).
npx napi build --manifest-path ../../crates/framex-node/Cargo.toml --output-dir . --dts native.d.ts
npm test
