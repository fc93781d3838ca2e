#!/usr/bin/env bash
# hack/mkdocs.sh - the virtualenv of the documentation tooling: MkDocs, MkDocs Material and PyYAML,
# exactly the versions pinned in hack/requirements-docs.txt.
#
# Usage: hack/mkdocs.sh   ensure the venv, then print its bin directory on the last line
#                         (make docs runs "$(bash hack/mkdocs.sh | tail -n1)/mkdocs build --strict")
#
# Environment:
#   CLERK_OPERATOR_CACHE  cache root (default: $HOME/.cache/clerk-operator); the virtualenv is
#                         $CLERK_OPERATOR_CACHE/mkdocs-venv, reused while it holds exactly the
#                         versions pinned in hack/requirements-docs.txt, rebuilt otherwise
#   PYTHON                interpreter to create the venv with (default: python3; needs >= 3.9)
#
# Progress goes to stderr.
set -euo pipefail

HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REQ="$HACK_DIR/requirements-docs.txt"
CACHE_ROOT="${CLERK_OPERATOR_CACHE:-${HOME:?HOME is not set}/.cache/clerk-operator}"
VENV="$CACHE_ROOT/mkdocs-venv"
PYTHON="${PYTHON:-python3}"

log() { printf '[mkdocs %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ -f "$REQ" ]] || die "missing $REQ"

# True when $VENV's python has exactly the name==version pins of $REQ installed.
venv_ok() {
  [[ -x "$VENV/bin/python" && -x "$VENV/bin/mkdocs" ]] || return 1
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
    if installed.get(norm(name)) != version.strip():
        bad.append(f"{name.strip()}=={version.strip()} (have {installed.get(norm(name))})")
if bad:
    print("mkdocs-venv is missing: " + ", ".join(bad), file=sys.stderr)
    sys.exit(1)
PY
}

mkdir -p "$CACHE_ROOT"
# One venv builder at a time (parallel make runs or several checkouts share the cache).
exec 9>"$CACHE_ROOT/mkdocs-venv.lock"
command -v flock >/dev/null && flock 9

if venv_ok; then
  log "reusing $VENV"
else
  command -v "$PYTHON" >/dev/null || die "$PYTHON not found (set PYTHON to a Python >= 3.9)"
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 9))' ||
    die "$PYTHON is $("$PYTHON" -V 2>&1); MkDocs Material needs Python >= 3.9"
  start=$SECONDS
  log "creating $VENV with $("$PYTHON" -V 2>&1)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV" || die "could not create a virtualenv (is python3-venv installed?)"
  "$VENV/bin/python" -m pip install --quiet --no-input --disable-pip-version-check -r "$REQ" >&2 ||
    die "pip install -r $REQ failed"
  venv_ok || die "$VENV does not match $REQ after installing"
  log "venv ready in $((SECONDS - start))s"
fi
echo "$VENV/bin"
