#!/usr/bin/env bash
# Crash campaign: kills `framex extract` with SIGKILL at random moments, again and again, into one
# store, and checks after every kill that the store is still valid (`framex cache verify`), then
# that a final run hands out exactly the frames of a clean reference run.
#
#   scripts/crash-loop.sh [KILLS] [FRAMEX]     # default 30 kills, target/release/framex
#
# Media is synthesized with the ffmpeg CLI into a temporary folder (removed afterwards). A short
# variant runs in the test suite (crates/framex-cli/tests/hostile.rs, `kill_9_at_random_moments`).
set -euo pipefail
kills="${1:-30}"
framex="${2:-${CARGO_TARGET_DIR:-target}/release/framex}"
[ -x "$framex" ] || { echo "crash-loop: no framex at $framex (cargo build --release -p framex-cli)" >&2; exit 2; }
framex="$(realpath "$framex")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
ff() { ffmpeg -v error -nostdin -y "$@"; }
ff -f lavfi -i testsrc2=size=1280x720:rate=30:duration=12 -c:v libx264 -preset veryfast -g 60 -pix_fmt yuv420p a.mp4
ff -f lavfi -i testsrc2=size=640x360:rate=24:duration=6 -c:v libx264 -preset veryfast -pix_fmt yuv420p b.mp4
cat > comp.json <<'JSON'
{ "fps": 30, "videos": [
  { "id": "a", "src": "a.mp4", "start": 0, "end": 12 },
  { "id": "trim", "src": "a.mp4", "start": 0, "end": 5, "mediaStart": 4 },
  { "id": "b", "src": "b.mp4", "start": 2, "end": 14, "loop": true } ] }
JSON
"$framex" extract comp.json --out ref --cache-dir off -q
for i in $(seq 1 "$kills"); do
  "$framex" extract comp.json --out out --cache-dir store -q &
  pid=$!
  sleep "0.$(( RANDOM % 9 + 1 ))$(( RANDOM % 10 ))"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if ! "$framex" cache verify --cache-dir store > "verify-$i.json"; then
    echo "crash-loop: kill $i left a damaged store:" >&2
    cat "verify-$i.json" >&2
    exit 1
  fi
  # Every clip folder visible in --out is complete.
  for d in out/*/; do
    [ -d "$d" ] || continue
    id="$(basename "$d")"
    [ "$(ls "$d" | wc -l)" -eq "$(ls "ref/$id" | wc -l)" ] || { echo "crash-loop: kill $i: out/$id is incomplete" >&2; exit 1; }
  done
done
"$framex" extract comp.json --out out --cache-dir store -q
diff -r ref out >/dev/null || { echo "crash-loop: the final run differs from the reference" >&2; exit 1; }
echo "crash-loop: $kills kills, store valid after each, final frames identical to the reference"
