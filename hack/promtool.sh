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

NAME=promtool
PACKAGE=prometheus
EXE=promtool
RECIPE=1
version=$(deb_version)

unpack() {
  local dir=$1 start=$SECONDS
  deb_fetch "$PACKAGE=$version"
  [[ -x "$DEB_TMP/root/usr/bin/promtool" ]] || die "the $PACKAGE package has no usr/bin/promtool"
  mv "$DEB_TMP/root/usr/bin/promtool" "$DEB_TMP/bin/promtool"
  rm -rf "$DEB_TMP/root"
  "$DEB_TMP/bin/promtool" --version >&2 || die "the unpacked promtool does not run"
  deb_place "$dir"
  deb_stamp "$dir" "$start"
}

deb_main "$@"
