#!/usr/bin/env bash
# Regenerates the media seed corpus under fuzz/corpus/media/ with the ffmpeg CLI: tiny clips
# (a few KB each) that cover the demuxers, decoders and pixel paths framex uses. The results
# are committed; run this only to change the set. Manifest and HTML seeds are hand-written.
set -euo pipefail
cd "$(dirname "$0")/.."
out=fuzz/corpus/media
mkdir -p "$out"
ff() { ffmpeg -hide_banner -nostdin -loglevel error -y "$@"; }
src="testsrc2=size=64x64:rate=10:duration=0.8"
alpha="color=black:s=64x64:r=10:d=0.8,format=gray,geq=lum='128+100*sin(X/8+T*3)'"
# H.264 with B-frames, keyframe every 4 frames, moov at the end and at the front.
ff -f lavfi -i "$src" -c:v libx264 -preset veryfast -crf 35 -pix_fmt yuv420p -g 4 -bf 2 "$out/h264.mp4"
ff -i "$out/h264.mp4" -c copy -movflags +faststart "$out/h264-faststart.mp4"
# 10-bit 4:2:2 H.264 (the swscale path) with a rotation tag.
ff -f lavfi -i "$src" -c:v libx264 -preset veryfast -crf 35 -pix_fmt yuv422p10le -g 8 \
  -metadata:s:v:0 rotate=90 "$out/h264-10bit-rot.mp4"
# VP9 with alpha (libvpx-vp9 decoder, RGBA path) in WebM.
ff -f lavfi -i "$src" -f lavfi -i "$alpha" \
  -filter_complex "[0:v]format=yuva420p[c];[1:v]format=gray[a];[c][a]alphamerge,format=yuva420p" \
  -c:v libvpx-vp9 -pix_fmt yuva420p -auto-alt-ref 0 -deadline realtime -cpu-used 8 -b:v 100k "$out/vp9-alpha.webm"
# VP8 in WebM (no alpha).
ff -f lavfi -i "$src" -c:v libvpx -deadline realtime -cpu-used 8 -b:v 100k "$out/vp8.webm"
# Raw YUV4MPEG (every byte is pixels or header: mutations hit the header parser).
ff -f lavfi -i "testsrc2=size=32x32:rate=10:duration=0.5" -pix_fmt yuv420p "$out/raw.y4m"
# Odd width and height (4:2:0 chroma rounding, the JPEG encoder's block padding).
ff -f lavfi -i "testsrc2=size=33x17:rate=10:duration=0.5" -pix_fmt yuv420p "$out/odd-33x17.y4m"
# Matroska with an MJPEG stream (full-range yuvj420p).
ff -f lavfi -i "$src" -c:v mjpeg -q:v 20 "$out/mjpeg.mkv"
# ProRes 4444 with alpha in Matroska (10-bit 4:4:4 + alpha).
ff -f lavfi -i "testsrc2=size=32x32:rate=10:duration=0.3" -f lavfi \
  -i "color=black:s=32x32:r=10:d=0.3,format=gray,geq=lum='X*8'" \
  -filter_complex "[0:v]format=yuva444p10le[c];[1:v]format=gray[a];[c][a]alphamerge,format=yuva444p10le" \
  -c:v prores_ks -profile:v 4444 -qscale:v 31 "$out/prores4444.mkv"
# QuickTime RLE with alpha (RGBA, a packed-RGB codec).
ff -f lavfi -i "testsrc2=size=32x32:rate=10:duration=0.5" -pix_fmt argb -c:v qtrle "$out/qtrle-argb.mov"
# MPEG-4 part 2 in AVI (another demuxer, timestamps from dts only).
ff -f lavfi -i "$src" -c:v mpeg4 -q:v 20 -g 4 "$out/mpeg4.avi"
# A variable-frame-rate H.264 in MPEG-TS (timestamps with gaps, a different demuxer).
ff -f lavfi -i "testsrc2=size=64x64:rate=20:duration=1" -vf "select='not(between(t,0.3,0.6))'" \
  -fps_mode vfr -c:v libx264 -preset veryfast -crf 35 -pix_fmt yuv420p -g 6 "$out/vfr.ts"
ls -l "$out"
