#!/usr/bin/env bash
# hack/promtool.sh - promtool (Prometheus' rule checker and rule unit-test runner) taken from
# Debian's `prometheus` package into the project cache: the .deb is fetched with `apt-get
# download` and unpacked with `dpkg-deb -x`, so nothing is installed and no Prometheus server
# is started. promtool is a static Go binary and needs no library from the package.
#
# Usage:
#   hack/promtool.sh [install]   ensure promtool is unpacked; print the dir holding it as the
#                                LAST line of stdout (progress: stderr)
#   hack/promtool.sh path        print that dir without fetching anything
#   hack/promtool.sh help
#
# The dir is $CLERK_OPERATOR_CACHE/promtool-<debian version>/bin (cache root default
# $HOME/.cache/clerk-operator).
set -euo pipefail
LOG_TAG=promtool
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PACKAGE=prometheus
RECIPE=1

candidate() { apt-cache policy "$PACKAGE" 2>/dev/null | awk '$1 == "Candidate:" && $2 != "(none)" { print $2 }'; }
safe_version() { tr ':~+' '___' <<<"$1"; }
dir_for() { echo "$CACHE_ROOT/promtool-$(safe_version "$1")"; }

version=$(candidate || true)
if [[ -z "$version" ]]; then
  # No package lists (a fresh machine) or no network: use an unpacked copy if there is one.
  existing=$(ls -1d "$CACHE_ROOT"/promtool-*/ 2>/dev/null | sort -V | tail -n1 || true)
  if [[ -n "$existing" && -f "$existing/.stamp" ]]; then
    version=$(sed -n 's/^recipe=[0-9]* version=//p' "$existing/.stamp")
  fi
fi

unpack() {
  local dir=$1 tmp start=$SECONDS
  command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || die "needs apt-get and dpkg-deb (Debian)"
  mkdir -p "$CACHE_ROOT"
  tmp=$(mktemp -d "$CACHE_ROOT/.promtool.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT
  log "fetching $PACKAGE ($version) with apt-get download"
  (cd "$tmp" && apt-get download -q "$PACKAGE=$version" >"$tmp/download.log" 2>&1) ||
    { cat "$tmp/download.log" >&2; die "apt-get download $PACKAGE=$version failed"; }
  mkdir -p "$tmp/root" "$tmp/bin"
  dpkg-deb -x "$tmp"/"$PACKAGE"_*.deb "$tmp/root"
  [[ -x "$tmp/root/usr/bin/promtool" ]] || die "the $PACKAGE package has no usr/bin/promtool"
  mv "$tmp/root/usr/bin/promtool" "$tmp/bin/promtool"
  rm -rf "$tmp/root" "$tmp"/*.deb
  "$tmp/bin/promtool" --version >&2 || die "the unpacked promtool does not run"
  echo "recipe=$RECIPE version=$version" >"$tmp/.stamp"
  rm -rf "$dir"
  mv "$tmp" "$dir"
  trap - EXIT
  log "unpacked promtool ($PACKAGE $version) into $dir in $((SECONDS - start))s"
}

install() {
  if [[ -z "$version" ]]; then
    log "no $PACKAGE package known yet: running apt-get update once"
    apt-get update -q >&2 || die "apt-get update failed"
    version=$(candidate)
    [[ -n "$version" ]] || die "Debian offers no $PACKAGE package"
  fi
  local dir
  dir=$(dir_for "$version")
  cache_lock promtool
  if [[ "$(cat "$dir/.stamp" 2>/dev/null)" == "recipe=$RECIPE version=$version" && -x "$dir/bin/promtool" ]]; then
    log "promtool ($PACKAGE $version) is in $dir/bin"
  else
    unpack "$dir"
  fi
  echo "$dir/bin"
}

case "${1:-install}" in
  install) install ;;
  path) [[ -n "$version" ]] || die "no $PACKAGE version known (run hack/promtool.sh)"; echo "$(dir_for "$version")/bin" ;;
  -h | --help | help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" ;;
  *) die "unknown command '$1' (try: install, path, help)" ;;
esac
