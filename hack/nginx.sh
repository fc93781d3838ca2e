#!/usr/bin/env bash
# hack/nginx.sh - nginx from Debian's packages, unpacked into the project cache for the proxy
# e2e test (a real reverse proxy in front of the fake Frontend API, configured as Clerk's proxy
# guide says). Nothing is installed on the system: the .deb is fetched with `apt-get download`
# and unpacked with `dpkg -x`, so no service is started and nothing listens. The test writes its
# own nginx.conf into a temp dir and runs nginx in the foreground on a free loopback port
# (crates/test-kit/src/nginx.rs).
#
# Usage:
#   hack/nginx.sh [install]   ensure nginx is unpacked; print the dir of its wrapper (nginx) as
#                             the LAST line of stdout (progress: stderr)
#   hack/nginx.sh path        print that dir without fetching anything
#   hack/nginx.sh help
#
# The dir is $CLERK_OPERATOR_CACHE/nginx-<debian version>/bin (cache root default
# $HOME/.cache/clerk-operator).
set -euo pipefail

log() { printf '[nginx %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The binary; the libraries it needs (libc6, libssl3, libpcre2-8-0, zlib1g, libcrypt1) are part of
# a Debian base system (see the ldd check below).
PACKAGES=(nginx)
RECIPE=1

CACHE_ROOT="${CLERK_OPERATOR_CACHE:-${HOME:?HOME is not set}/.cache/clerk-operator}"

candidate() { apt-cache policy nginx 2>/dev/null | awk '$1 == "Candidate:" && $2 != "(none)" { print $2 }'; }

version=$(candidate || true)
if [[ -z "$version" ]]; then
  # No package lists (a fresh machine) or no network: use an unpacked copy if there is one.
  existing=$(ls -1d "$CACHE_ROOT"/nginx-*/ 2>/dev/null | sort -V | tail -n1 || true)
  if [[ -n "$existing" && -f "$existing/.stamp" ]]; then
    version=$(sed -n 's/^recipe=[0-9]* version=//p' "$existing/.stamp")
  fi
fi

dir_for() { echo "$CACHE_ROOT/nginx-$(tr ':~' '__' <<<"$1")"; }

unpack() {
  local dir=$1 tmp start=$SECONDS
  command -v apt-get >/dev/null && command -v dpkg >/dev/null || die "needs apt-get and dpkg (Debian)"
  mkdir -p "$CACHE_ROOT"
  tmp=$(mktemp -d "$CACHE_ROOT/.nginx.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT
  log "fetching ${PACKAGES[*]} ($version) with apt-get download"
  (cd "$tmp" && apt-get download -q "${PACKAGES[@]}" >"$tmp/download.log" 2>&1) ||
    { cat "$tmp/download.log" >&2; die "apt-get download failed"; }
  mkdir -p "$tmp/root" "$tmp/bin"
  local deb
  for deb in "$tmp"/*.deb; do
    log "unpacking $(basename "$deb")"
    dpkg -x "$deb" "$tmp/root"
  done
  [[ -x "$tmp/root/usr/sbin/nginx" ]] || die "the packages have no usr/sbin/nginx"
  cat >"$tmp/bin/nginx" <<WRAP
#!/bin/sh
# Runs nginx unpacked from Debian's packages by hack/nginx.sh.
exec "$dir/root/usr/sbin/nginx" "\$@"
WRAP
  chmod +x "$tmp/bin/nginx"
  rm -f "$tmp"/*.deb
  rm -rf "$dir"
  mv "$tmp" "$dir"
  trap - EXIT
  local missing
  missing=$(ldd "$dir/root/usr/sbin/nginx" | grep 'not found' || true)
  [[ -z "$missing" ]] || { rm -rf "$dir"; die "libraries missing on this system: $missing"; }
  "$dir/bin/nginx" -v >&2 || { rm -rf "$dir"; die "the unpacked nginx does not run"; }
  echo "recipe=$RECIPE version=$version" >"$dir/.stamp"
  log "unpacked nginx $version into $dir in $((SECONDS - start))s"
}

install() {
  [[ -n "$version" ]] || {
    log "no nginx package known yet: running apt-get update once"
    apt-get update -q >&2 || die "apt-get update failed"
    version=$(candidate)
    [[ -n "$version" ]] || die "Debian offers no nginx package"
  }
  local dir
  dir=$(dir_for "$version")
  mkdir -p "$CACHE_ROOT"
  if command -v flock >/dev/null; then
    exec 9>"$CACHE_ROOT/.nginx.lock"
    flock 9
  fi
  if [[ "$(cat "$dir/.stamp" 2>/dev/null)" == "recipe=$RECIPE version=$version" && -x "$dir/bin/nginx" ]]; then
    log "nginx $version is unpacked in $dir"
  else
    unpack "$dir"
  fi
  echo "$dir/bin"
}

case "${1:-install}" in
  install) install ;;
  path) [[ -n "$version" ]] || die "no nginx version known (run hack/nginx.sh)"; echo "$(dir_for "$version")/bin" ;;
  -h | --help | help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" ;;
  *) die "unknown command '$1' (try: install, path, help)" ;;
esac
