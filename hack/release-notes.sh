#!/usr/bin/env bash
# hack/release-notes.sh - print the section of CHANGELOG.md for one version (Keep a Changelog
# format: `## [VERSION] - DATE` up to the next `## ` heading), without its heading: the notes of
# the GitHub release of tag vVERSION. Fails when the section is missing or empty.
#
# Usage: hack/release-notes.sh VERSION|vVERSION|Unreleased [CHANGELOG.md]
set -euo pipefail
version=${1:?usage: hack/release-notes.sh VERSION [CHANGELOG.md]}
version=${version#v}
file=${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/CHANGELOG.md}
notes=$(awk -v v="$version" '
  /^## / { if (found) exit; if (index($0, "## [" v "]") == 1) { found = 1; next } }
  found { print }
' "$file" | sed -e '/./,$!d' | sed -e ':a' -e '/^\n*$/{$d;N;ba' -e '}')
[[ -n "${notes//[[:space:]]/}" ]] || { echo "hack/release-notes.sh: no section '## [$version]' with content in $file" >&2; exit 1; }
printf '%s\n' "$notes"
