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
LOG_TAG=bind
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# BIND itself, and the libraries it needs that a Debian base system may lack (those it has,
# like libc6, libssl3 and libuv1, are used from the system; see the ldd check below).
PACKAGES=(bind9 bind9-libs bind9-utils bind9-dnsutils bind9-host
  libfstrm0 libjemalloc2 liblmdb0 libmaxminddb0 libprotobuf-c1)
TOOLS=(usr/sbin/named usr/bin/dig usr/bin/nsupdate usr/sbin/tsig-keygen usr/bin/named-checkconf
  usr/bin/named-checkzone)
NAME=bind
PACKAGE=bind9
EXE=named
RECIPE=1
version=$(deb_version)

unpack() {
  local dir start=$SECONDS
  deb_fetch "${PACKAGES[@]}"
  dir=$(deb_dir "$version")
  local libpath="" d
  for d in "$DEB_TMP/root"/usr/lib/*-linux-gnu "$DEB_TMP/root"/lib/*-linux-gnu; do
    [[ -d "$d" ]] && libpath="${libpath:+$libpath:}${dir}/root${d#"$DEB_TMP/root"}"
  done
  local t name
  for t in "${TOOLS[@]}"; do
    [[ -x "$DEB_TMP/root/$t" ]] || die "the packages have no $t"
    name=$(basename "$t")
    cat >"$DEB_TMP/bin/$name" <<WRAP
#!/bin/sh
# Runs BIND's $name unpacked from Debian's packages by hack/bind.sh.
LD_LIBRARY_PATH="$libpath\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$dir/root/$t" "\$@"
WRAP
    chmod +x "$DEB_TMP/bin/$name"
  done
  deb_place "$dir"
  # Every library resolves (from the unpacked ones or the system's)?
  local missing
  missing=$(LD_LIBRARY_PATH="$libpath" ldd "$dir/root/usr/sbin/named" "$dir/root/usr/bin/dig" | grep 'not found' || true)
  [[ -z "$missing" ]] || { rm -rf "$dir"; die "libraries missing on this system: $missing (add their packages to PACKAGES in $0)"; }
  "$dir/bin/named" -v >&2 || { rm -rf "$dir"; die "the unpacked named does not run"; }
  deb_stamp "$dir" "$start"
}

# serve DIR PORT ZONE...: see the header.
serve() {
  (($# >= 3)) || die "usage: hack/bind.sh serve DIR PORT ZONE..."
  local dir=$1 port=$2 bin zone
  shift 2
  [[ "$port" =~ ^[0-9]+$ ]] && ((port > 0 && port < 65536 && port != 53)) || die "bad port '$port' (never 53)"
  bin=$(deb_install | tail -n1)
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
  serve) shift; serve "$@" ;;
  *) deb_main "$@" ;;
esac
