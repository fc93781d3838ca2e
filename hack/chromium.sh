#!/usr/bin/env bash
# hack/chromium.sh - a headless Chromium for make docs-screenshots, from Debian's package.
#
# Usage: hack/chromium.sh   ensure chromium is installed (apt-get update once, then
#                           apt-get install -y chromium when it is missing; needs root), then print
#                           the path of the chromium binary on the last line
#
# Environment:
#   CHROMIUM   a Chromium or Chrome binary to use as it is (nothing is installed)
#
# Progress goes to stderr.
set -euo pipefail

log() { printf '[chromium %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if [[ -n "${CHROMIUM:-}" ]]; then
  [[ -x "$CHROMIUM" ]] || CHROMIUM=$(command -v "$CHROMIUM") || die "CHROMIUM=$CHROMIUM is not an executable"
  echo "$CHROMIUM"
  exit 0
fi

find_chromium() {
  local c
  for c in chromium chromium-browser google-chrome-stable google-chrome; do
    command -v "$c" 2>/dev/null && return 0
  done
  return 1
}

if bin=$(find_chromium); then
  log "using $bin"
  echo "$bin"
  exit 0
fi

command -v apt-get >/dev/null || die "no chromium and no apt-get: install Chromium and set CHROMIUM"
if [[ $(id -u) -ne 0 ]]; then
  die "chromium is not installed and installing it needs root: run 'apt-get install -y chromium' as root, or set CHROMIUM"
fi
log "installing Debian's chromium (apt-get update, apt-get install -y chromium)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2 || die "apt-get update failed"
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2 || die "apt-get install chromium failed"
bin=$(find_chromium) || die "chromium not found after installing"
log "installed $("$bin" --version 2>/dev/null || echo "$bin")"
echo "$bin"
