#!/usr/bin/env bash
# hack/cyclonedx.sh - cargo-cyclonedx (CycloneDX SBOMs of Cargo workspaces), built from crates.io
# with `cargo install --locked` into the project cache; nothing is installed system-wide.
#
# Usage:
#   hack/cyclonedx.sh [install]   ensure cargo-cyclonedx is built; print the dir holding it as the
#                                 LAST line of stdout (progress: stderr)
#   hack/cyclonedx.sh path        print that dir without building anything
#   hack/cyclonedx.sh help
#
# The dir is $CLERK_OPERATOR_CACHE/tools/cargo-cyclonedx-<version>/bin (cache root default
# $HOME/.cache/clerk-operator). The first build compiles for several minutes (niced).
set -euo pipefail
LOG_TAG=cyclonedx
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VERSION=0.5.9
ROOT="$CACHE_ROOT/tools/cargo-cyclonedx-$VERSION"
BIN="$ROOT/bin"

install() {
  if is_exe "$BIN/cargo-cyclonedx"; then
    log "cargo-cyclonedx $VERSION is in $BIN"
  else
    cache_lock cyclonedx
    if ! is_exe "$BIN/cargo-cyclonedx"; then
      command -v cargo >/dev/null || die "needs cargo"
      mkdir -p "$CACHE_ROOT/tools"
      log "building cargo-cyclonedx $VERSION (cargo install --locked; several minutes the first time)"
      run_with_progress "building cargo-cyclonedx $VERSION" "$CACHE_ROOT/tools/.cargo-cyclonedx-$VERSION.log" \
        nice -n 10 cargo install --locked --quiet --root "$ROOT" --version "=$VERSION" cargo-cyclonedx
      is_exe "$BIN/cargo-cyclonedx" || die "cargo install left no $BIN/cargo-cyclonedx"
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
