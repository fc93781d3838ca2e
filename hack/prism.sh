#!/usr/bin/env bash
# hack/prism.sh - install Stoplight Prism (the OpenAPI validating proxy the
# contract tests run between the Clerk client and the fake Clerk) from the npm
# registry, and print the path of the `prism` executable as the LAST line of
# stdout. Progress goes to stderr. Needs only `node` and `npm`.
#
# Usage:
#   hack/prism.sh [install]   ensure prism is installed; print its path
#   hack/prism.sh path        print the path without installing anything
#   hack/prism.sh version     print the installed prism version
#
# Environment:
#   CLERK_OPERATOR_CACHE  cache root (default: $HOME/.cache/clerk-operator);
#                         prism goes to $CLERK_OPERATOR_CACHE/prism
#
# Versions are pinned exactly. prism-cli 5.14.2 is the newest 5.x that runs on
# Node 18/20 (5.15+ needs Node >= 24); its own dependency ranges would pull the
# Node-24-only 5.16 internals, so those are pinned with npm `overrides` to the
# set 5.14.2 was released with.
set -euo pipefail

PRISM_VERSION=5.14.2
PRISM_CORE_VERSION=5.8.0
PRISM_HTTP_VERSION=5.12.0
PRISM_HTTP_SERVER_VERSION=5.12.2

log() { printf '[prism %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

CACHE_ROOT="${CLERK_OPERATOR_CACHE:-${HOME:?HOME is not set}/.cache/clerk-operator}"
PREFIX="$CACHE_ROOT/prism"
BIN="$PREFIX/node_modules/.bin/prism"
STAMP="$PREFIX/.installed"
WANT="prism-cli@$PRISM_VERSION core@$PRISM_CORE_VERSION http@$PRISM_HTTP_VERSION http-server@$PRISM_HTTP_SERVER_VERSION"

installed() { [[ -x "$BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; }

install() {
  if installed; then
    log "prism $PRISM_VERSION already in $PREFIX"
    return
  fi
  command -v node >/dev/null || die "node is not installed (apt-get install nodejs npm)"
  command -v npm >/dev/null || die "npm is not installed (apt-get install npm)"
  log "installing @stoplight/prism-cli@$PRISM_VERSION into $PREFIX (node $(node --version))"
  local started=$SECONDS
  rm -rf "$PREFIX"
  mkdir -p "$PREFIX"
  cat >"$PREFIX/package.json" <<EOF
{
  "name": "clerk-operator-prism",
  "private": true,
  "description": "Installed by clerk-operator's hack/prism.sh",
  "dependencies": {
    "@stoplight/prism-cli": "$PRISM_VERSION"
  },
  "overrides": {
    "@stoplight/prism-core": "$PRISM_CORE_VERSION",
    "@stoplight/prism-http": "$PRISM_HTTP_VERSION",
    "@stoplight/prism-http-server": "$PRISM_HTTP_SERVER_VERSION"
  }
}
EOF
  # --ignore-scripts: prism needs no install scripts, and some of its dependencies'
  # scripts phone home (analytics), which this network does not allow.
  SCARF_ANALYTICS=false npm install --prefix "$PREFIX" --ignore-scripts --no-audit --no-fund \
    --loglevel=error >&2 || die "npm install failed"
  [[ -x "$BIN" ]] || die "npm install did not produce $BIN"
  local got
  got=$("$BIN" --version 2>/dev/null) || die "$BIN --version failed"
  [[ "$got" == "$PRISM_VERSION" ]] || die "installed prism reports version $got, want $PRISM_VERSION"
  printf '%s' "$WANT" >"$STAMP"
  log "installed prism $got in $((SECONDS - started))s"
}

case "${1:-install}" in
  install)
    install
    echo "$BIN"
    ;;
  path) echo "$BIN" ;;
  version)
    installed || die "prism is not installed: run hack/prism.sh"
    "$BIN" --version
    ;;
  help | -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) die "unknown command: $1 (try: install, path, version, help)" ;;
esac
