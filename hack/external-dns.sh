#!/usr/bin/env bash
# hack/external-dns.sh - build the real external-dns from its Go module (pinned in
# hack/external-dns/go.mod) into the project cache, with its DNSEndpoint CRD beside it.
# Needs only `go` and the Go module proxy; external-dns needs Go 1.27, which the go command
# fetches as the toolchain module go1.27.3 (GOTOOLCHAIN, set here).
#
# Usage:
#   hack/external-dns.sh [install]  ensure the binary and the CRD exist; print their dir as the
#                                   LAST line of stdout (progress goes to stderr)
#   hack/external-dns.sh path       print the dir without building anything
#   hack/external-dns.sh help
#
# The dir ($CLERK_OPERATOR_CACHE/external-dns-<version>, default cache root
# $HOME/.cache/clerk-operator) holds:
#   external-dns                            the binary
#   dnsendpoints.externaldns.k8s.io.yaml    the CRD, from the module's config/crd/standard/
#
# Environment: CLERK_OPERATOR_CACHE, EXTERNAL_DNS_BUILD_JOBS (go build -p).
set -euo pipefail

HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MOD_DIR="$HACK_DIR/external-dns"
export GOTOOLCHAIN="${EXTERNAL_DNS_GOTOOLCHAIN:-go1.27.3}"

log() { printf '[external-dns %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

VERSION=$(awk '($1 == "require" && $2 == "sigs.k8s.io/external-dns") { print $3; exit }
  ($1 == "sigs.k8s.io/external-dns" && $2 ~ /^v/) { print $2; exit }' "$MOD_DIR/go.mod")
[[ -n "$VERSION" ]] || die "could not read the external-dns version from $MOD_DIR/go.mod"
CACHE_ROOT="${CLERK_OPERATOR_CACHE:-${HOME:?HOME is not set}/.cache/clerk-operator}"
OUT_DIR="$CACHE_ROOT/external-dns-${VERSION#v}"
CRD_NAME=dnsendpoints.externaldns.k8s.io.yaml
BUILD_RECIPE=1

build_key() {
  { echo "recipe=$BUILD_RECIPE go=$GOTOOLCHAIN"; cat "$MOD_DIR/go.mod" "$MOD_DIR/go.sum"; } | sha256sum | cut -c1-32
}
fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

up_to_date() {
  [[ -x "$OUT_DIR/external-dns" && -f "$OUT_DIR/$CRD_NAME" &&
    "$(cat "$OUT_DIR/.stamp" 2>/dev/null)" == "$(build_key)" ]]
}

build() {
  command -v go >/dev/null || die "go is not installed"
  mkdir -p "$OUT_DIR"
  local tmp log_file
  tmp=$(mktemp -d "$OUT_DIR/.build.XXXXXX")
  log_file="$tmp/build.log"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT
  export CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"
  log "building external-dns $VERSION with $GOTOOLCHAIN into $OUT_DIR"
  log "a cold build takes ~15-25 min on 2 busy cores (every cloud SDK; ~1 GB of modules to download)"
  log "resolving packages (downloads the Go toolchain and modules on the first run)"
  local total start=$SECONDS
  total=$(cd "$MOD_DIR" && go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' sigs.k8s.io/external-dns | grep -c . || true)
  (
    cd "$MOD_DIR"
    jobs=()
    [[ -z "${EXTERNAL_DNS_BUILD_JOBS:-}" ]] || jobs=(-p "$EXTERNAL_DNS_BUILD_JOBS")
    exec go build "${jobs[@]}" -v -trimpath \
      -ldflags "-s -w -X sigs.k8s.io/external-dns/pkg/apis/externaldns.Version=$VERSION" \
      -o "$tmp/external-dns" sigs.k8s.io/external-dns
  ) >"$log_file" 2>&1 &
  local pid=$!
  # shellcheck disable=SC2064
  trap "kill $pid 2>/dev/null || true; rm -rf '$tmp'" EXIT
  trap 'exit 130' INT TERM
  local n last
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$pid" 2>/dev/null || break
    n=$(grep -cv '^go: downloading' "$log_file" 2>/dev/null || true)
    last=$(tail -n 1 "$log_file" 2>/dev/null || true)
    log "still building: $(fmt_secs $((SECONDS - start))) elapsed, ${n:-0}/~${total:-?} packages compiled (last: ${last:-none})"
  done
  local rc=0
  wait "$pid" || rc=$?
  if ((rc != 0)); then
    grep -v '^[a-zA-Z0-9._/-]*$' "$log_file" | tail -n 40 >&2 || true
    die "go build failed (exit $rc) after $(fmt_secs $((SECONDS - start)))"
  fi
  # The CRD external-dns ships, from the same module version.
  local src
  src=$(cd "$MOD_DIR" && go list -m -f '{{.Dir}}' sigs.k8s.io/external-dns)/config/crd/standard/$CRD_NAME
  [[ -f "$src" ]] || die "no CRD at $src"
  cp "$src" "$tmp/$CRD_NAME"
  chmod 0644 "$tmp/$CRD_NAME"
  mv -f "$tmp/external-dns" "$OUT_DIR/external-dns"
  mv -f "$tmp/$CRD_NAME" "$OUT_DIR/$CRD_NAME"
  build_key >"$OUT_DIR/.stamp"
  rm -rf "$tmp"
  trap - EXIT
  log "built external-dns $VERSION in $(fmt_secs $((SECONDS - start)))"
}

install() {
  mkdir -p "$CACHE_ROOT"
  if command -v flock >/dev/null; then
    exec 9>"$CACHE_ROOT/.external-dns.lock"
    if ! flock -n 9; then
      log "waiting for another hack/external-dns.sh run (lock $CACHE_ROOT/.external-dns.lock)"
      flock 9
    fi
  fi
  if up_to_date; then log "external-dns $VERSION is up to date"; else build; fi
  echo "$OUT_DIR"
}

case "${1:-install}" in
  install) install ;;
  path) echo "$OUT_DIR" ;;
  -h | --help | help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" ;;
  *) die "unknown command '$1' (try: install, path, help)" ;;
esac
