#!/usr/bin/env bash
# hack/sbom.sh - CycloneDX SBOMs (JSON) of the Cargo workspace with cargo-cyclonedx: one
# document per workspace package (clerk-operator.cdx.json for the operator), every target
# platform and all features, so that every crate of Cargo.lock is described. The documents are
# written next to each Cargo.toml by cargo-cyclonedx and moved into OUT_DIR.
#
# Usage: hack/sbom.sh CARGO_CYCLONEDX OUT_DIR
#   CARGO_CYCLONEDX  the cargo-cyclonedx binary (hack/cyclonedx.sh prints its dir)
#   Prints the documents' paths, the last line being the operator's.
set -euo pipefail
LOG_TAG=sbom
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tool=${1:?usage: hack/sbom.sh CARGO_CYCLONEDX OUT_DIR}
out=${2:?usage: hack/sbom.sh CARGO_CYCLONEDX OUT_DIR}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
is_exe "$tool" || die "no cargo-cyclonedx at $tool"
mkdir -p "$out"
out=$(cd "$out" && pwd)

cd "$ROOT"
# Documents of an earlier, interrupted run would be mistaken for this run's.
find . -path ./target -prune -o -name '*.cdx.json' -print | while read -r f; do
  git ls-files --error-unmatch "$f" >/dev/null 2>&1 || rm -f "$f"
done
log "cargo cyclonedx (all targets, all features)"
# cargo-cyclonedx runs as a cargo subcommand: `cargo cyclonedx` finds it on PATH.
PATH="$(dirname "$tool"):$PATH" nice -n 10 cargo cyclonedx --format json --all-features --target all \
  --spec-version 1.5 >&2
docs=()
while read -r f; do
  git ls-files --error-unmatch "$f" >/dev/null 2>&1 && continue
  mv "$f" "$out/"
  docs+=("$out/$(basename "$f")")
done < <(find . -path ./target -prune -o -name '*.cdx.json' -print | LC_ALL=C sort)
((${#docs[@]})) || die "cargo cyclonedx wrote no *.cdx.json"
[[ -f "$out/clerk-operator.cdx.json" ]] || die "no SBOM of the clerk-operator package (clerk-operator.cdx.json)"
printf '%s\n' "${docs[@]}" | grep -v '/clerk-operator.cdx.json$' || true
echo "$out/clerk-operator.cdx.json"
