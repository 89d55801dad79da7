#!/usr/bin/env bash
# Quick start: installs what framex needs, builds it, synthesizes the bundled example's media
# with the ffmpeg CLI and extracts the example composition into examples/demo/out.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release -p framex-cli
framex="${CARGO_TARGET_DIR:-target}/release/framex"
demo=examples/demo
mkdir -p "$demo/media"
ff() { ffmpeg -v error -nostdin -y "$@"; }
# A 24 fps H.264 clip (held frames in a 30 fps composition).
[ -f "$demo/media/intro.mp4" ] || ff -f lavfi -i testsrc2=size=640x360:rate=24:duration=6 \
  -c:v libx264 -preset fast -crf 20 -pix_fmt yuv420p "$demo/media/intro.mp4"
# A VP9 clip with a moving alpha mask (comes out as PNG with alpha).
[ -f "$demo/media/overlay.webm" ] || ff -f lavfi -i testsrc2=size=480x270:rate=30:duration=3 \
  -f lavfi -i "color=c=white:s=480x270:r=30:d=3,geq=lum='128+120*sin(X/25+T*4)':cb=128:cr=128" \
  -filter_complex "[1:v]format=gray[a];[0:v][a]alphamerge,format=yuva420p" \
  -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -auto-alt-ref 0 "$demo/media/overlay.webm"
# A phone-style clip stored sideways with rotation metadata (comes out upright).
if [ ! -f "$demo/media/phone.mp4" ]; then
  ff -f lavfi -i testsrc2=size=640x360:rate=30:duration=2 -c:v libx264 -preset fast -pix_fmt yuv420p "$demo/media/phone_raw.mp4"
  ff -i "$demo/media/phone_raw.mp4" -c copy -metadata:s:v:0 rotate=90 "$demo/media/phone.mp4"
  rm -f "$demo/media/phone_raw.mp4"
fi
rm -rf "$demo/out"
"$framex" extract "$demo/comp.json" --out "$demo/out" --result "$demo/out.json"
echo "frames are in $demo/out/<clip id>/ ; the result JSON is $demo/out.json"
