#!/usr/bin/env bash
# hack/pysdk.sh - run Clerk's official Python Backend API SDK (clerk-backend-api) against the
# fake Clerk server: tests/sdk proves the fake's shapes and status codes are ones the real
# SDK accepts.
#
# Usage:
#   hack/pysdk.sh [PYTEST_ARGS...]   ensure the venv and the fake-clerk binary, then run
#                                    `pytest -q tests/sdk PYTEST_ARGS...`
#   hack/pysdk.sh --print-python     ensure the venv only and print its python (for make bench:
#                                    hack/bench/clerk_sync.py runs with it)
#
# Environment:
#   CLERK_OPERATOR_CACHE  cache root (default: $HOME/.cache/clerk-operator); the virtualenv
#                         is $CLERK_OPERATOR_CACHE/venv-sdk, reused while it holds exactly the
#                         versions pinned in hack/requirements-sdk.txt, rebuilt otherwise
#   PYTHON                interpreter to create the venv with (default: python3; needs >= 3.10)
#   CARGO                 cargo command (default: cargo)
#   FAKE_CLERK_BIN        a fake-clerk binary to test as it is (default: target/debug/fake-clerk,
#                         built with `cargo build --locked -p fake-clerk --bin fake-clerk` when missing or
#                         older than src/, Cargo.toml or Cargo.lock)
#
# Progress goes to stderr; the exit status is pytest's (non-zero on any failure).
set -euo pipefail

HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$HACK_DIR/.." && pwd)
REQ="$HACK_DIR/requirements-sdk.txt"
CACHE_ROOT="${CLERK_OPERATOR_CACHE:-${HOME:?HOME is not set}/.cache/clerk-operator}"
VENV="$CACHE_ROOT/venv-sdk"
PYTHON="${PYTHON:-python3}"
CARGO="${CARGO:-cargo}"
FAKE_BIN="${FAKE_CLERK_BIN:-${CARGO_TARGET_DIR:-$REPO_DIR/target}/debug/fake-clerk}"

log() { printf '[pysdk %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ -f "$REQ" ]] || die "missing $REQ"

# True when $VENV's python has exactly the name==version pins of $REQ installed.
venv_ok() {
  [[ -x "$VENV/bin/python" ]] || return 1
  "$VENV/bin/python" - "$REQ" <<'PY'
import re, sys
from importlib import metadata

def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()

installed = {norm(d.metadata["Name"]): d.version for d in metadata.distributions()}
bad = []
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, _, version = line.partition("==")
    have = installed.get(norm(name))
    if have != version.strip():
        bad.append(f"{name.strip()}=={version.strip()} (have {have})")
if bad:
    print("venv-sdk is missing: " + ", ".join(bad), file=sys.stderr)
    sys.exit(1)
PY
}

ensure_venv() {
  if venv_ok; then
    log "reusing $VENV"
    return
  fi
  command -v "$PYTHON" >/dev/null || die "$PYTHON not found (set PYTHON to a Python >= 3.10)"
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
    die "$PYTHON is $("$PYTHON" -V 2>&1); clerk-backend-api needs Python >= 3.10"
  local start=$SECONDS
  log "creating $VENV with $("$PYTHON" -V 2>&1)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV" || die "could not create a virtualenv (is python3-venv installed?)"
  log "installing $(grep -E '^(clerk-backend-api|pytest)==' "$REQ" | tr '\n' ' ')and their pinned dependencies"
  "$VENV/bin/python" -m pip install --quiet --no-input --disable-pip-version-check -r "$REQ" >&2 ||
    die "pip install -r $REQ failed"
  venv_ok || die "$VENV does not match $REQ after installing"
  log "venv ready in $((SECONDS - start))s"
}

# Build fake-clerk when it is missing or older than the sources it is built from.
ensure_fake() {
  if [[ -n "${FAKE_CLERK_BIN:-}" ]]; then
    [[ -x "$FAKE_BIN" ]] || die "FAKE_CLERK_BIN=$FAKE_BIN is not an executable"
    log "using FAKE_CLERK_BIN=$FAKE_BIN"
    return
  fi
  if [[ -x "$FAKE_BIN" ]] &&
    [[ -z "$(find "$REPO_DIR/crates/fake-clerk" "$REPO_DIR/crates/clerk-model" "$REPO_DIR/Cargo.toml" "$REPO_DIR/Cargo.lock" -newer "$FAKE_BIN" -print -quit)" ]]; then
    log "using $FAKE_BIN"
    return
  fi
  log "building fake-clerk ($CARGO build --locked -p fake-clerk --bin fake-clerk)"
  (cd "$REPO_DIR" && "$CARGO" build --locked -p fake-clerk --bin fake-clerk) || die "cargo build of fake-clerk failed"
  [[ -x "$FAKE_BIN" ]] || die "$FAKE_BIN not found after building"
}

mkdir -p "$CACHE_ROOT"
# One venv builder at a time (parallel `make` runs or several checkouts share the cache).
exec 9>"$CACHE_ROOT/venv-sdk.lock"
if command -v flock >/dev/null; then
  flock 9
fi
ensure_venv
flock -u 9 2>/dev/null || true
exec 9>&-

if [[ "${1:-}" == "--print-python" ]]; then
  echo "$VENV/bin/python"
  exit 0
fi

ensure_fake

log "running pytest -q tests/sdk with $("$VENV/bin/python" -c 'from importlib.metadata import version; print("clerk-backend-api", version("clerk-backend-api"))')"
cd "$REPO_DIR"
# No .pytest_cache or __pycache__ left in the work tree.
export PYTHONDONTWRITEBYTECODE=1
FAKE_CLERK_BIN="$FAKE_BIN" "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/sdk "$@"
