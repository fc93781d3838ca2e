# hack/lib.sh - helpers shared by the hack/ scripts (node tools, image, node test, and the tools
# unpacked from Debian packages).
# shellcheck shell=bash

CACHE_ROOT="${CLERK_OPERATOR_CACHE:-${HOME:?HOME is not set}/.cache/clerk-operator}"

log() { printf '[%s %s] %s\n' "${LOG_TAG:-hack}" "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
is_exe() { [[ -f "$1" && -x "$1" ]]; }

# Install Debian packages that are missing (by package name; `apt-get update` once if needed).
need_debs() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  [[ $(id -u) == 0 ]] || die "need root to install Debian packages: ${missing[*]}"
  log "installing Debian packages: ${missing[*]}"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
    apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2
  fi
}

# Run "$@" in the background with its output in $LOG_FILE, printing progress every 30 s:
# elapsed time, the number of lines of the log and its last line.
run_with_progress() {
  local what=$1 log_file=$2
  shift 2
  local start=$SECONDS
  "$@" >"$log_file" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$pid" 2>/dev/null || break
    log "still $what: $(fmt_secs $((SECONDS - start))) elapsed, $(grep -c . "$log_file" || true) log lines (last: $(tail -n1 "$log_file" | cut -c1-120))"
  done
  local rc=0
  wait "$pid" || rc=$?
  if ((rc != 0)); then
    tail -n 40 "$log_file" >&2 || true
    die "$what failed (exit $rc) after $(fmt_secs $((SECONDS - start))); log: $log_file"
  fi
  log "done $what in $(fmt_secs $((SECONDS - start)))"
}

# Serialise concurrent runs on one cache (lock file name $1).
cache_lock() {
  mkdir -p "$CACHE_ROOT"
  command -v flock >/dev/null || return 0
  exec 8>"$CACHE_ROOT/.$1.lock"
  if ! flock -n 8; then
    log "waiting for another run holding $CACHE_ROOT/.$1.lock"
    flock 8
  fi
}

# Tools unpacked from Debian's packages into the cache, never installed (hack/bind.sh,
# hack/nginx.sh, hack/promtool.sh). The calling script sets NAME (its copies are
# $CACHE_ROOT/NAME-<version>), PACKAGE (whose candidate version names them), RECIPE (raised when
# the layout of a copy changes), EXE (in bin/ of a complete copy) and `version=$(deb_version)`,
# and defines `unpack DIR`, which fetches with deb_fetch and ends with deb_place and deb_stamp.

# The candidate version of $PACKAGE; without package lists (a fresh machine) or network, the
# version of the newest unpacked copy.
deb_version() {
  local v existing
  v=$(apt-cache policy "$PACKAGE" 2>/dev/null | awk '$1 == "Candidate:" && $2 != "(none)" { print $2 }' || true)
  if [[ -z "$v" ]]; then
    existing=$(ls -1d "$CACHE_ROOT/$NAME"-*/ 2>/dev/null | sort -V | tail -n1 || true)
    if [[ -n "$existing" && -f "$existing/.stamp" ]]; then
      v=$(sed -n 's/^recipe=[0-9]* version=//p' "$existing/.stamp")
    fi
  fi
  echo "$v"
}

# The copy of version $1.
deb_dir() { echo "$CACHE_ROOT/$NAME-$(tr ':~+' '___' <<<"$1")"; }

# `path`: the bin/ of the copy of the known version, fetching nothing.
deb_path() {
  [[ -n "$version" ]] || die "no $PACKAGE version known (run hack/$NAME.sh)"
  echo "$(deb_dir "$version")/bin"
}

# Download the packages "$@" into the temp dir $DEB_TMP (made here, removed on exit unless
# placed) and unpack them all into $DEB_TMP/root. When the download fails, the package lists
# are refreshed once and `version` is the new candidate.
deb_fetch() {
  local deb
  command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || die "needs apt-get and dpkg-deb (Debian)"
  mkdir -p "$CACHE_ROOT"
  DEB_TMP=$(mktemp -d "$CACHE_ROOT/.$NAME.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$DEB_TMP'" EXIT
  log "fetching $* ($version) with apt-get download"
  if ! (cd "$DEB_TMP" && apt-get download -q "$@" >download.log 2>&1); then
    log "apt-get download failed; running apt-get update once and retrying"
    apt-get update -q >&2 || die "apt-get update failed"
    version=$(deb_version)
    [[ -n "$version" ]] || die "Debian offers no $PACKAGE package"
    (cd "$DEB_TMP" && apt-get download -q "$@" >download.log 2>&1) ||
      { cat "$DEB_TMP/download.log" >&2; die "apt-get download $* failed"; }
  fi
  mkdir -p "$DEB_TMP/root" "$DEB_TMP/bin"
  for deb in "$DEB_TMP"/*.deb; do
    log "unpacking $(basename "$deb")"
    dpkg-deb -x "$deb" "$DEB_TMP/root"
  done
  rm -f "$DEB_TMP"/*.deb "$DEB_TMP/download.log"
}

# Put the fetched copy in place as $1 (the copy of `version`).
deb_place() {
  rm -rf "$1"
  mv "$DEB_TMP" "$1"
  trap - EXIT
}

# Mark the copy $1 complete (after its checks), $2 seconds after the unpack began.
deb_stamp() {
  echo "recipe=$RECIPE version=$version" >"$1/.stamp"
  log "unpacked $NAME ($PACKAGE $version) into $1 in $((SECONDS - $2))s"
}

# `install`: unpack the copy of the candidate version unless it is there; print its bin/ as the
# last line of stdout.
deb_install() {
  if [[ -z "$version" ]]; then
    log "no $PACKAGE package known yet: running apt-get update once"
    apt-get update -q >&2 || die "apt-get update failed"
    version=$(deb_version)
    [[ -n "$version" ]] || die "Debian offers no $PACKAGE package"
  fi
  local dir
  dir=$(deb_dir "$version")
  cache_lock "$NAME"
  if [[ "$(cat "$dir/.stamp" 2>/dev/null)" == "recipe=$RECIPE version=$version" && -x "$dir/bin/$EXE" ]]; then
    log "$NAME ($PACKAGE $version) is unpacked in $dir"
  else
    unpack "$dir"
    dir=$(deb_dir "$version")
  fi
  echo "$dir/bin"
}

# The commands every such script takes besides its own: install, path, help.
deb_main() {
  case "${1:-install}" in
    install) deb_install ;;
    path) deb_path ;;
    -h | --help | help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" ;;
    *) die "unknown command '$1' (try: install, path, help)" ;;
  esac
}
