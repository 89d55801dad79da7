#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12: the Rust workspace (cargo test) and the Node
# package npm/framex (its addon built from source, then node --test, including the
# compatibility tests against the published @hyperframes/engine 0.8.33). `.ci/run` calls this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# The Node package (npm/framex) and its tests need Node.js 20 or later with npm.
if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null; then
  echo "framex tests: Node.js >= 20 with npm is needed for the Node package (npm/framex) and its tests" >&2
  exit 1
fi
# The remote store tier's tests start a real S3-compatible server (moto) on 127.0.0.1 with this
# Python; it lives in a venv of its own under the target folder (~1 min to install, once).
venv="$(pwd)/${CARGO_TARGET_DIR:-target}/s3-test-venv"
if ! "$venv/bin/python" -c 'import moto.server, boto3' 2>/dev/null; then
  echo "framex tests: installing moto[server] (the S3 test server) into $venv" >&2
  if ! python3 -m venv "$venv" 2>/dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==5.2.1"
fi
export FRAMEX_TEST_PYTHON="$venv/bin/python"
cargo test --workspace
# The addon in the dev profile with plain cargo: it reuses most of what `cargo test` just
# compiled (`napi build` passes an explicit --target, a separate build folder, so it would
# compile FFmpeg's bindings and every dependency again; `npm run build` is for users).
cargo build -p framex-node
cp "${CARGO_TARGET_DIR:-target}/debug/libframex_node.so" npm/framex/framex.node
cd npm/framex
# --ignore-scripts: the dev dependency @hyperframes/engine pulls in puppeteer, whose install
# step would download Chrome (never used: the tests import the engine without a browser).
[ -d node_modules/@napi-rs/cli ] && [ -d node_modules/@hyperframes/engine ] || npm ci --ignore-scripts --no-audit --no-fund
npm test
