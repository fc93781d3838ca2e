#!/usr/bin/env bash
# hack/bind.sh - BIND 9 (named, dig, nsupdate, tsig-keygen) from Debian's packages, unpacked
# into the project cache for the DNS e2e test and `make demo`. Nothing is installed on the
# system: the .debs are fetched with `apt-get download` and unpacked with `dpkg -x`, so no
# service is started and nothing listens on port 53. The tests start named themselves, on a
# free loopback port, through `hack/bind.sh serve` (crates/test-kit/src/real_dns.rs, hack/demo.sh).
#
# Usage:
#   hack/bind.sh [install]   ensure BIND is unpacked; print the dir of its wrappers (named, dig,
#                            nsupdate, tsig-keygen) as the LAST line of stdout (progress: stderr)
#   hack/bind.sh path        print that dir without fetching anything
#   hack/bind.sh serve DIR PORT ZONE...
#                            run named in the foreground (exec, so its pid is the caller's
#                            child) on 127.0.0.1:PORT (UDP and TCP), authoritative for each
#                            ZONE, no recursion. DIR (created) gets named.conf, one zone file per
#                            zone (SOA, NS, ns A 127.0.0.1; writable, for the journals),
#                            externaldns.key (TSIG key `externaldns-key`, hmac-sha256, made by
#                            tsig-keygen unless DIR has one) and tsig.secret (its secret alone).
#                            Updates (RFC 2136) and zone transfers need that key (`grant
#                            externaldns-key zonesub ANY`: CNAMEs and external-dns's TXT
#                            ownership records); queries are open to 127.0.0.1.
#   hack/bind.sh help
#
# The dir is $CLERK_OPERATOR_CACHE/bind-<debian version>/bin (cache root default
# $HOME/.cache/clerk-operator). Each wrapper runs the unpacked binary with LD_LIBRARY_PATH
# pointing at the unpacked libraries.
set -euo pipefail

log() { printf '[bind %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# BIND itself, and the libraries it needs that a Debian base system may lack (those it has,
# like libc6, libssl3 and libuv1, are used from the system; see the ldd check below).
PACKAGES=(bind9 bind9-libs bind9-utils bind9-dnsutils bind9-host
  libfstrm0 libjemalloc2 liblmdb0 libmaxminddb0 libprotobuf-c1)
TOOLS=(usr/sbin/named usr/bin/dig usr/bin/nsupdate usr/sbin/tsig-keygen usr/bin/named-checkconf
  usr/bin/named-checkzone)
RECIPE=1

CACHE_ROOT="${CLERK_OPERATOR_CACHE:-${HOME:?HOME is not set}/.cache/clerk-operator}"

candidate() { apt-cache policy bind9 2>/dev/null | awk '$1 == "Candidate:" && $2 != "(none)" { print $2 }'; }

version=$(candidate || true)
if [[ -z "$version" ]]; then
  # No package lists (a fresh machine) or no network: use an unpacked copy if there is one.
  existing=$(ls -1d "$CACHE_ROOT"/bind-*/ 2>/dev/null | sort -V | tail -n1 || true)
  if [[ -n "$existing" && -f "$existing/.stamp" ]]; then
    version=$(sed -n 's/^recipe=[0-9]* version=//p' "$existing/.stamp")
  fi
fi
safe_version() { tr ':~' '__' <<<"$1"; }

dir_for() { echo "$CACHE_ROOT/bind-$(safe_version "$1")"; }

unpack() {
  local dir=$1 tmp start=$SECONDS
  command -v apt-get >/dev/null && command -v dpkg >/dev/null || die "needs apt-get and dpkg (Debian)"
  mkdir -p "$CACHE_ROOT"
  tmp=$(mktemp -d "$CACHE_ROOT/.bind.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT
  log "fetching ${PACKAGES[*]} ($version) with apt-get download"
  if ! (cd "$tmp" && apt-get download -q "${PACKAGES[@]}" >"$tmp/download.log" 2>&1); then
    log "apt-get download failed; running apt-get update once and retrying"
    apt-get update -q >&2 || die "apt-get update failed"
    version=$(candidate)
    [[ -n "$version" ]] || die "Debian offers no bind9 package"
    dir=$(dir_for "$version")
    (cd "$tmp" && apt-get download -q "${PACKAGES[@]}" >"$tmp/download.log" 2>&1) ||
      { cat "$tmp/download.log" >&2; die "apt-get download failed"; }
  fi
  mkdir -p "$tmp/root"
  local deb
  for deb in "$tmp"/*.deb; do
    log "unpacking $(basename "$deb")"
    dpkg -x "$deb" "$tmp/root"
  done
  local libpath="" d
  for d in "$tmp/root"/usr/lib/*-linux-gnu "$tmp/root"/lib/*-linux-gnu; do
    [[ -d "$d" ]] && libpath="${libpath:+$libpath:}${dir}/root${d#"$tmp/root"}"
  done
  mkdir -p "$tmp/bin"
  local t name
  for t in "${TOOLS[@]}"; do
    [[ -x "$tmp/root/$t" ]] || die "the packages have no $t"
    name=$(basename "$t")
    cat >"$tmp/bin/$name" <<WRAP
#!/bin/sh
# Runs BIND's $name unpacked from Debian's packages by hack/bind.sh.
LD_LIBRARY_PATH="$libpath\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$dir/root/$t" "\$@"
WRAP
    chmod +x "$tmp/bin/$name"
  done
  rm -f "$tmp"/*.deb
  rm -rf "$dir"
  mv "$tmp" "$dir"
  trap - EXIT
  # Every library resolves (from the unpacked ones or the system's)?
  local missing
  missing=$(LD_LIBRARY_PATH="$libpath" ldd "$dir/root/usr/sbin/named" "$dir/root/usr/bin/dig" | grep 'not found' || true)
  [[ -z "$missing" ]] || { rm -rf "$dir"; die "libraries missing on this system: $missing (add their packages to PACKAGES in $0)"; }
  "$dir/bin/named" -v >&2 || { rm -rf "$dir"; die "the unpacked named does not run"; }
  echo "recipe=$RECIPE version=$version" >"$dir/.stamp"
  log "unpacked BIND $version into $dir in $((SECONDS - start))s"
}

install() {
  [[ -n "$version" ]] || {
    log "no bind9 package known yet: running apt-get update once"
    apt-get update -q >&2 || die "apt-get update failed"
    version=$(candidate)
    [[ -n "$version" ]] || die "Debian offers no bind9 package"
  }
  local dir
  dir=$(dir_for "$version")
  mkdir -p "$CACHE_ROOT"
  if command -v flock >/dev/null; then
    exec 9>"$CACHE_ROOT/.bind.lock"
    flock 9
  fi
  if [[ "$(cat "$dir/.stamp" 2>/dev/null)" == "recipe=$RECIPE version=$version" && -x "$dir/bin/named" ]]; then
    log "BIND $version is unpacked in $dir"
  else
    unpack "$dir"
    dir=$(dir_for "$version")
  fi
  echo "$dir/bin"
}

# serve DIR PORT ZONE...: see the header.
serve() {
  (($# >= 3)) || die "usage: hack/bind.sh serve DIR PORT ZONE..."
  local dir=$1 port=$2 bin zone
  shift 2
  [[ "$port" =~ ^[0-9]+$ ]] && ((port > 0 && port < 65536 && port != 53)) || die "bad port '$port' (never 53)"
  bin=$(install | tail -n1)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [[ -s "$dir/externaldns.key" ]] || "$bin/tsig-keygen" -a hmac-sha256 externaldns-key >"$dir/externaldns.key"
  sed -n 's/^[[:space:]]*secret "\(.*\)";/\1/p' "$dir/externaldns.key" >"$dir/tsig.secret"
  [[ -s "$dir/tsig.secret" ]] || die "no secret in $dir/externaldns.key"
  {
    echo "include \"$dir/externaldns.key\";"
    echo "options {"
    echo "  directory \"$dir\"; pid-file \"$dir/named.pid\"; session-keyfile \"$dir/session.key\";"
    echo "  managed-keys-directory \"$dir\";"
    echo "  listen-on port $port { 127.0.0.1; }; listen-on-v6 { none; };"
    echo "  recursion no; allow-query { 127.0.0.1; }; dnssec-validation no; notify no;"
    echo "};"
    echo "controls { };"
    for zone in "$@"; do
      echo "zone \"$zone\" { type primary; file \"$dir/$zone.zone\";"
      echo "  allow-transfer { key \"externaldns-key\"; };"
      echo "  update-policy { grant externaldns-key zonesub ANY; }; };"
    done
  } >"$dir/named.conf"
  for zone in "$@"; do
    [[ -f "$dir/$zone.zone" ]] && continue
    printf '%s\n' '$TTL 60' \
      "@ IN SOA ns.$zone. hostmaster.$zone. 1 60 60 600 60" \
      "@ IN NS ns.$zone." \
      "ns IN A 127.0.0.1" >"$dir/$zone.zone"
  done
  "$bin/named-checkconf" "$dir/named.conf" || die "named-checkconf rejected $dir/named.conf"
  local user=()
  [[ $(id -u) != 0 ]] || user=(-u root) # named drops root for user "bind" otherwise
  log "named on 127.0.0.1:$port for $* (config $dir/named.conf)"
  exec "$bin/named" -g -n 1 "${user[@]}" -c "$dir/named.conf"
}

case "${1:-install}" in
  install) install ;;
  serve) shift; serve "$@" ;;
  path) [[ -n "$version" ]] || die "no bind9 version known (run hack/bind.sh)"; echo "$(dir_for "$version")/bin" ;;
  -h | --help | help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" ;;
  *) die "unknown command '$1' (try: install, path, help)" ;;
esac
