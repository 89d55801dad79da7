#!/usr/bin/env bash
# Fuzzing campaign: coverage-guided `cargo fuzz` (libFuzzer) on the manifest parser, the HTML
# reader and the media path, then a long run of the deterministic mutation harness that
# `cargo test` runs briefly (crates/framex/tests/fuzz_inputs.rs, fuzz_media.rs).
#
#   scripts/fuzz.sh [SECONDS]      # per cargo-fuzz target (default 60)
#
# Works on stable Rust: cargo fuzz runs with `--sanitizer none` (coverage instrumentation and
# debug assertions, no AddressSanitizer, which needs nightly). Set FUZZ_SANITIZER=address and
# FUZZ_TOOLCHAIN=nightly to use ASan where a nightly toolchain is installed. Without cargo-fuzz
# (`cargo install cargo-fuzz`) only the mutation harness runs.
#
# Environment: FRAMEX_FUZZ_ITERS (mutation cases per harness test, default 20000 for the
# parsers / 3000 for media), FRAMEX_FUZZ_SEED (default: random, printed so a failure replays
# with FRAMEX_FUZZ_SEED=… FRAMEX_FUZZ_CASE=…).
#
# New inputs libFuzzer finds go to fuzz/work/<target>/ (ignored by git); crashes to
# fuzz/artifacts/<target>/. Minimise a crash with `cargo fuzz tmin`, fix it, and commit the input
# to fuzz/corpus/<target>/ as regress-<what>.<ext>.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
sanitizer="${FUZZ_SANITIZER:-none}"
toolchain="${FUZZ_TOOLCHAIN:+ +$FUZZ_TOOLCHAIN}"
status=0

if cargo fuzz --version >/dev/null 2>&1; then
  for target in manifest html media; do
    mkdir -p "fuzz/work/$target"
    echo "== cargo fuzz: $target for ${secs}s (sanitizer: $sanitizer)" >&2
    # shellcheck disable=SC2086
    (cd fuzz && cargo$toolchain fuzz run --sanitizer "$sanitizer" "$target" "work/$target" "corpus/$target" -- \
        -max_total_time="$secs" -timeout=30 -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1) || status=1
  done
else
  echo "== cargo-fuzz not installed (cargo install cargo-fuzz): skipping coverage-guided fuzzing" >&2
fi

seed="${FRAMEX_FUZZ_SEED:-$RANDOM$RANDOM}"
echo "== mutation harness, FRAMEX_FUZZ_SEED=$seed" >&2
FRAMEX_FUZZ_SEED="$seed" FRAMEX_FUZZ_ITERS="${FRAMEX_FUZZ_ITERS:-20000}" \
  cargo test -p framex --test integration fuzz_inputs:: -- --nocapture || status=1
FRAMEX_FUZZ_SEED="$seed" FRAMEX_FUZZ_ITERS="${FRAMEX_FUZZ_ITERS:-3000}" \
  cargo test -p framex --test integration fuzz_media:: -- --nocapture || status=1
exit $status
