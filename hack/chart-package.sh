#!/usr/bin/env bash
# hack/chart-package.sh - package the Helm chart for a release, as the release workflow does and
# `make release-check` checks: chart version and appVersion from the tag, the image repository
# and the runbook links of the released chart set in a copy of the chart, `helm lint --strict`
# on that copy, then `helm package`.
#
# Usage:
#   hack/chart-package.sh --version vX.Y.Z|X.Y.Z --out DIR [--image-repository REPO]
#                         [--runbook-base-url URL] [--source-url URL] [--helm PATH]
#   --source-url  the repository's web address: Chart.yaml gets `home`, `sources` and the
#                 Artifact Hub links (source, changelog, runbooks, signature verification)
#   With --image-repository, Chart.yaml gets the Artifact Hub annotation artifacthub.io/images
#   (REPO:VERSION); a version with a pre-release part gets artifacthub.io/prerelease: "true".
#   Prints the path of the packaged chart (.tgz) as the LAST line of stdout.
#
# --helm defaults to the helm of hack/envtest.sh.
set -euo pipefail
LOG_TAG="chart-package"
# shellcheck source=hack/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CHART="$ROOT/deploy/helm/clerk-operator"
version="" out="" image="" runbooks="" source="" helm=""
while (($#)); do
  case "$1" in
    --version) version=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --image-repository) image=$2; shift 2 ;;
    --runbook-base-url) runbooks=$2; shift 2 ;;
    --source-url) source=${2%/}; shift 2 ;;
    --helm) helm=$2; shift 2 ;;
    -h | --help | help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ -n "$version" && -n "$out" ]] || die "--version and --out are required"
version=${version#v}
# Semantic Versioning 2.0.0, as Helm requires of a chart version.
[[ "$version" =~ ^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$ ]] ||
  die "'$version' is not a semantic version (vMAJOR.MINOR.PATCH[-PRERELEASE])"
[[ -n "$helm" ]] || helm="$(bash "$ROOT/hack/envtest.sh" | tail -n1)/helm"
is_exe "$helm" || die "no helm at $helm"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -R "$CHART" "$work/clerk-operator"
values="$work/clerk-operator/values.yaml"
# Replace one `  KEY: VALUE` line of values.yaml, failing when it is not there exactly once.
set_value() {
  local key=$1 old=$2 new=$3 n
  n=$(grep -c "^  $key: $old\$" "$values" || true)
  [[ "$n" == 1 ]] || die "values.yaml has $n lines '  $key: $old' (expected 1)"
  sed -i "s|^  $key: $old\$|  $key: $new|" "$values"
}
[[ -z "$image" ]] || set_value repository clerk-operator "$image"
[[ -z "$runbooks" ]] || set_value runbookBaseUrl 'https://github.com/clerk-operator/clerk-operator/blob/main/docs/runbooks' "$runbooks"

# Chart.yaml: top-level keys go before `annotations:`, annotations are appended (it is last).
chart="$work/clerk-operator/Chart.yaml"
[[ "$(grep -c '^annotations:$' "$chart")" == 1 ]] || die "Chart.yaml has no single 'annotations:' line"
! sed -n '/^annotations:$/,$p' "$chart" | sed 1d | grep -q -v '^ \|^$' || die "annotations: is not the last key of Chart.yaml"
if [[ -n "$source" ]]; then
  sed -i "s|^annotations:\$|home: $source\nsources:\n  - $source\nannotations:|" "$chart"
  {
    echo "  artifacthub.io/links: |"
    echo "    - name: Source"
    echo "      url: $source"
    echo "    - name: Changelog"
    echo "      url: $source/blob/v$version/CHANGELOG.md"
    echo "    - name: Runbooks"
    echo "      url: $source/blob/v$version/docs/runbooks/index.md"
    echo "    - name: Verifying signatures"
    echo "      url: $source/blob/v$version/docs/operations/release.md"
  } >>"$chart"
fi
if [[ -n "$image" ]]; then
  {
    echo "  artifacthub.io/images: |"
    echo "    - name: clerk-operator"
    echo "      image: $image:$version"
    echo "      platforms:"
    echo "        - linux/amd64"
    echo "        - linux/arm64"
  } >>"$chart"
fi
[[ "$version" != *-* ]] || echo '  artifacthub.io/prerelease: "true"' >>"$chart"

"$helm" lint --strict --quiet "$work/clerk-operator" --set secretKey=sk_test_chart_package >&2
mkdir -p "$out"
"$helm" package "$work/clerk-operator" --version "$version" --app-version "$version" --destination "$out" >&2
pkg="$(cd "$out" && pwd)/clerk-operator-$version.tgz"
[[ -f "$pkg" ]] || die "helm package left no $pkg"
log "packaged $pkg"
echo "$pkg"
