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
LOG_TAG=nginx
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The binary; the libraries it needs (libc6, libssl3, libpcre2-8-0, zlib1g, libcrypt1) are part of
# a Debian base system (see the ldd check below).
NAME=nginx
PACKAGE=nginx
EXE=nginx
RECIPE=1
version=$(deb_version)

unpack() {
  local dir start=$SECONDS
  deb_fetch "$PACKAGE"
  dir=$(deb_dir "$version")
  [[ -x "$DEB_TMP/root/usr/sbin/nginx" ]] || die "the packages have no usr/sbin/nginx"
  cat >"$DEB_TMP/bin/nginx" <<WRAP
#!/bin/sh
# Runs nginx unpacked from Debian's packages by hack/nginx.sh.
exec "$dir/root/usr/sbin/nginx" "\$@"
WRAP
  chmod +x "$DEB_TMP/bin/nginx"
  deb_place "$dir"
  local missing
  missing=$(ldd "$dir/root/usr/sbin/nginx" | grep 'not found' || true)
  [[ -z "$missing" ]] || { rm -rf "$dir"; die "libraries missing on this system: $missing"; }
  "$dir/bin/nginx" -v >&2 || { rm -rf "$dir"; die "the unpacked nginx does not run"; }
  deb_stamp "$dir" "$start"
}

deb_main "$@"
