#!/usr/bin/env bash
# hack/health.sh - build the health-check helpers from the Go module in
# hack/health (pinned in hack/health/go.mod): `kstatus` (sigs.k8s.io/cli-utils'
# status.Compute, what Flux's health checks use) and `argolua` (a health.lua run
# in gopher-lua the way Argo CD runs it). Needs only `go` and the Go module proxy.
#
# Usage:
#   hack/health.sh [install]   ensure both binaries exist; print their dir as the
#                              LAST line of stdout (progress goes to stderr)
#   hack/health.sh path        print the dir without building anything
#   hack/health.sh help
#
# Environment:
#   CLERK_OPERATOR_CACHE  cache root (default: $HOME/.cache/clerk-operator);
#                         binaries go to $CLERK_OPERATOR_CACHE/health/bin and are
#                         rebuilt only when hack/health (go.mod, go.sum, *.go) or
#                         this script's recipe change
set -euo pipefail

HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MOD_DIR="$HACK_DIR/health"
BINARIES=(kstatus argolua)

log() { printf '[health %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ -f "$MOD_DIR/go.mod" ]] || die "missing $MOD_DIR/go.mod"
CACHE_ROOT="${CLERK_OPERATOR_CACHE:-${HOME:?HOME is not set}/.cache/clerk-operator}"
BIN_DIR="$CACHE_ROOT/health/bin"
STAMP_DIR="$BIN_DIR/.stamps"

# What a cached binary was built from: the module's go.mod, go.sum and every Go
# source file (path and content), and the recipe below.
BUILD_RECIPE=1
build_key() {
  {
    echo "recipe=$BUILD_RECIPE bin=$1"
    cd "$MOD_DIR"
    find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) | LC_ALL=C sort | while read -r f; do
      echo "== $f"
      cat "$f"
    done
  } | sha256sum | cut -c1-32
}

built() { [[ -x "$BIN_DIR/$1" && "$(cat "$STAMP_DIR/$1" 2>/dev/null)" == "$(build_key "$1")" ]]; }

build() {
  command -v go >/dev/null || die "go is not installed (need Go >= $(awk '$1=="go"{print $2}' "$MOD_DIR/go.mod"))"
  mkdir -p "$BIN_DIR" "$STAMP_DIR"
  local tmp
  tmp=$(mktemp -d "$BIN_DIR/.build.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT
  local pkgs=() b
  for b in "$@"; do pkgs+=("./cmd/$b"); done
  log "building $* (cli-utils $(awk '$1=="sigs.k8s.io/cli-utils"{print $2}' "$MOD_DIR/go.mod"), gopher-lua $(awk '$1=="github.com/yuin/gopher-lua"{print $2}' "$MOD_DIR/go.mod")) with $(go version | awk '{print $3}') into $BIN_DIR"
  log "a cold build takes ~1-2 min on 2 cores (plus module downloads); later runs reuse it"
  local start=$SECONDS
  (
    cd "$MOD_DIR"
    export CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"
    go build -trimpath -ldflags "-s -w" -o "$tmp/" "${pkgs[@]}"
  ) >&2 || die "go build failed after $((SECONDS - start))s"
  for b in "$@"; do
    [[ -x "$tmp/$b" ]] || die "go build did not produce $b"
    mv -f "$tmp/$b" "$BIN_DIR/$b"
    build_key "$b" >"$STAMP_DIR/.$b.tmp" && mv -f "$STAMP_DIR/.$b.tmp" "$STAMP_DIR/$b"
  done
  rm -rf "$tmp"
  trap - EXIT
  log "built $* in $((SECONDS - start))s"
}

install() {
  mkdir -p "$CACHE_ROOT"
  if command -v flock >/dev/null; then
    exec 9>"$CACHE_ROOT/.health.lock"
    if ! flock -n 9; then
      log "waiting for another hack/health.sh run to finish (lock $CACHE_ROOT/.health.lock)"
      flock 9
    fi
  fi
  local missing=() b
  for b in "${BINARIES[@]}"; do built "$b" || missing+=("$b"); done
  if ((${#missing[@]})); then build "${missing[@]}"; else log "kstatus and argolua up to date"; fi
  echo "$BIN_DIR"
}

case "${1:-install}" in
  install) install ;;
  path) echo "$BIN_DIR" ;;
  -h | --help | help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" ;;
  *) die "unknown command '$1' (try: install, path, help)" ;;
esac
