#!/usr/bin/env bash
# hack/actionlint.sh - actionlint (the GitHub Actions workflow checker), built from its Go module
# with `go install`, and shellcheck (which actionlint runs on every `run:` script), unpacked from
# Debian's package with `apt-get download` and `dpkg-deb -x`, both into the project cache;
# nothing is installed system-wide.
#
# Usage:
#   hack/actionlint.sh [install]   ensure actionlint and shellcheck are there; print the dir
#                                  holding both as the LAST line of stdout (progress: stderr)
#   hack/actionlint.sh path        print that dir without building anything
#   hack/actionlint.sh help
#
# The dir is $CLERK_OPERATOR_CACHE/tools/actionlint-<version> (cache root default
# $HOME/.cache/clerk-operator).
set -euo pipefail
LOG_TAG=actionlint
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VERSION=v1.7.12
BIN="$CACHE_ROOT/tools/actionlint-$VERSION"

# ShellCheck comes from Debian's package (a Haskell binary using the system's libffi and libgmp).
shellcheck_install() {
  local tmp
  command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || die "needs apt-get and dpkg-deb (Debian)"
  tmp=$(mktemp -d "$CACHE_ROOT/tools/.shellcheck.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" RETURN
  log "fetching shellcheck with apt-get download"
  if ! (cd "$tmp" && apt-get download -q shellcheck >"$tmp/download.log" 2>&1); then
    log "apt-get download failed; running apt-get update once and retrying"
    apt-get update -q >&2 || die "apt-get update failed"
    (cd "$tmp" && apt-get download -q shellcheck >"$tmp/download.log" 2>&1) ||
      { cat "$tmp/download.log" >&2; die "apt-get download shellcheck failed"; }
  fi
  dpkg-deb -x "$tmp"/shellcheck_*.deb "$tmp/root"
  "$tmp/root/usr/bin/shellcheck" --version >&2 || die "the unpacked shellcheck does not run"
  mv "$tmp/root/usr/bin/shellcheck" "$BIN/shellcheck"
}

install() {
  if is_exe "$BIN/actionlint"; then
    log "actionlint $VERSION is in $BIN"
  else
    cache_lock actionlint
    if ! is_exe "$BIN/actionlint"; then
      command -v go >/dev/null || die "needs go"
      mkdir -p "$BIN"
      run_with_progress "building actionlint $VERSION" "$CACHE_ROOT/tools/.actionlint-$VERSION.log" \
        env GOBIN="$BIN" GOFLAGS=-mod=mod nice -n 10 go install "github.com/rhysd/actionlint/cmd/actionlint@$VERSION"
      is_exe "$BIN/actionlint" || die "go install left no $BIN/actionlint"
    fi
  fi
  if ! is_exe "$BIN/shellcheck"; then
    cache_lock actionlint
    is_exe "$BIN/shellcheck" || shellcheck_install
  fi
  echo "$BIN"
}

case "${1:-install}" in
  install) install ;;
  path) echo "$BIN" ;;
  -h | --help | help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" ;;
  *) die "unknown command '$1' (try: install, path, help)" ;;
esac
