#!/usr/bin/env bash
# Installs the system packages framex builds and tests against (Debian 12): FFmpeg's libraries
# and CLI, libclang for the FFmpeg bindings, cmake + nasm for libjpeg-turbo. Idempotent.
set -euo pipefail
pkgs=(pkg-config libclang-dev libavcodec-dev libavformat-dev libavutil-dev libswscale-dev
      libavfilter-dev ffmpeg cmake nasm)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "framex setup: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "framex setup: cargo not found; install Rust with rustup" >&2; exit 1; }
