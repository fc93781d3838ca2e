#!/usr/bin/env bash
# hack/docs/screenshots.sh - screenshots of the built documentation site with headless Chromium,
# checked to be real renderings.
#
# Usage: hack/docs/screenshots.sh SITE_DIR OUT_DIR
#   Serves SITE_DIR (the output of `mkdocs build`) with python's http.server on 127.0.0.1 and a
#   free port, and writes OUT_DIR/landing.png (index.html) and OUT_DIR/reference.png
#   (reference/clerkdomain-fields.html), 1280x900. Fails unless each PNG is larger than 20 KB and
#   not a single colour.
#
# Environment:
#   CHROMIUM   a Chromium or Chrome binary (default: whatever hack/chromium.sh finds or installs)
#   PYTHON     python3 for the server and the PNG check (default: python3)
set -euo pipefail

HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SITE=${1:?usage: screenshots.sh SITE_DIR OUT_DIR}
OUT=${2:?usage: screenshots.sh SITE_DIR OUT_DIR}
PYTHON=${PYTHON:-python3}

log() { printf '[screenshots %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ -f "$SITE/index.html" ]] || die "$SITE/index.html not found: build the site first (make docs)"
chromium=$(bash "$HACK_DIR/chromium.sh" | tail -n1)
mkdir -p "$OUT"
work=$(mktemp -d)
server_pid=
cleanup() {
  if [[ -n "$server_pid" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
"$PYTHON" -m http.server "$port" --bind 127.0.0.1 --directory "$SITE" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 50); do
  "$PYTHON" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/index.html', timeout=1)" 2>/dev/null && break
  sleep 0.1
done

shoot() { # NAME PATH
  local png="$OUT/$1.png"
  rm -f "$png"
  timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --user-data-dir="$work/profile" --virtual-time-budget=5000 \
    --window-size=1280,900 --screenshot="$png" "http://127.0.0.1:$port/$2" >"$work/chromium-$1.log" 2>&1 ||
    { cat "$work/chromium-$1.log" >&2; die "chromium failed on $2"; }
  [[ -f "$png" ]] || { cat "$work/chromium-$1.log" >&2; die "no screenshot of $2"; }
  "$PYTHON" - "$png" <<'PY'
import struct, sys, zlib

path = sys.argv[1]
data = open(path, "rb").read()
if len(data) <= 20 * 1024:
    sys.exit(f"{path}: {len(data)} bytes, expected more than 20 KB")
if data[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit(f"{path}: not a PNG")
pos, idat, width, height, depth, ctype = 8, b"", 0, 0, 0, 0
while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    chunk = data[pos + 8:pos + 8 + length]
    if kind == b"IHDR":
        width, height, depth, ctype = struct.unpack(">IIBB", chunk[:10])
    elif kind == b"IDAT":
        idat += chunk
    pos += 12 + length
raw = zlib.decompress(idat)
# A single-colour image, whatever PNG filter each row uses, decompresses to a handful of byte
# values (the filter types, the colour's channels, zeros); a rendered page to dozens.
distinct = len(set(raw))
if distinct < 16:
    sys.exit(f"{path}: {distinct} distinct byte values: a single colour, not a page")
print(f"{path}: {width}x{height}, {len(data)} bytes, {distinct} distinct byte values")
PY
}

shoot landing index.html
shoot reference reference/clerkdomain-fields.html
log "screenshots in $OUT: landing.png, reference.png"
