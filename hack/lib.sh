# hack/lib.sh - helpers shared by hack/node-tools.sh, hack/image.sh and hack/e2e-node.sh.
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
