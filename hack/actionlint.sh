#!/usr/bin/env bash
# hack/actionlint.sh - actionlint (the GitHub Actions workflow checker), built from its Go module
# with `go install` into the project cache; nothing is installed system-wide.
#
# Usage:
#   hack/actionlint.sh [install]   ensure actionlint is built; print the dir holding it as the
#                                  LAST line of stdout (progress: stderr)
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
  echo "$BIN"
}

case "${1:-install}" in
  install) install ;;
  path) echo "$BIN" ;;
  -h | --help | help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" ;;
  *) die "unknown command '$1' (try: install, path, help)" ;;
esac
