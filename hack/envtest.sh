#!/usr/bin/env bash
# hack/envtest.sh - build the control-plane binaries the integration tests need
# (etcd, kube-apiserver, kube-controller-manager, kubectl, helm) from Go
# modules pinned in hack/tools/go.mod. Needs only `go` and the Go module proxy:
# no Docker, no prebuilt binary downloads.
#
# Usage:
#   hack/envtest.sh [install]   ensure all binaries exist; print their dir as the
#                               LAST line of stdout (progress goes to stderr)
#   hack/envtest.sh node        the same for the node binaries of `make e2e-node`
#                               (kubelet, kube-scheduler, kube-proxy), same dir
#   hack/envtest.sh versions    print the version of each binary
#   hack/envtest.sh path        print the dir without building anything
#   hack/envtest.sh help
#
# Environment:
#   CLERK_OPERATOR_CACHE  cache root (default: $HOME/.cache/clerk-operator);
#                         binaries go to $CLERK_OPERATOR_CACHE/k8s-<version>/bin
#   KUBEBUILDER_ASSETS    if it holds etcd, kube-apiserver and kubectl, those are
#                         reused; only what it lacks is built (into the cache),
#                         and a dir of symlinks merging both is printed
#   ENVTEST_BUILD_JOBS    passed to `go build -p` (default: Go's default, #CPUs)
#
# Versions are read from hack/tools/go.mod; bump them there (and the replace
# block of k8s.io staging modules) and re-run `go mod tidy` in hack/tools.
set -euo pipefail

HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOOLS_DIR="$HACK_DIR/tools"
GOMOD="$TOOLS_DIR/go.mod"

BINARIES=(etcd kube-apiserver kube-controller-manager kubectl helm)
ENVTEST_BINARIES=(etcd kube-apiserver kubectl)
# Built only on request (`hack/envtest.sh node`), from the same module set.
NODE_BINARIES=(kubelet kube-scheduler kube-proxy)

log() { printf '[envtest %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Version of a module required in hack/tools/go.mod.
mod_version() {
  awk -v m="$1" '($1 == m && $2 ~ /^v/) { print $2; exit } ($1 == "require" && $2 == m) { print $3; exit }' "$GOMOD"
}

[[ -f "$GOMOD" ]] || die "missing $GOMOD"
K8S_VERSION=$(mod_version k8s.io/kubernetes)
ETCD_VERSION=$(mod_version go.etcd.io/etcd/server/v3)
HELM_VERSION=$(mod_version helm.sh/helm/v3)
[[ -n "$K8S_VERSION" && -n "$ETCD_VERSION" && -n "$HELM_VERSION" ]] ||
  die "could not read versions from $GOMOD"

CACHE_ROOT="${CLERK_OPERATOR_CACHE:-${HOME:?HOME is not set}/.cache/clerk-operator}"
VERSION_DIR="$CACHE_ROOT/k8s-${K8S_VERSION#v}"
BIN_DIR="$VERSION_DIR/bin"
STAMP_DIR="$BIN_DIR/.stamps"

# Go package (relative to hack/tools) for each binary.
pkg_for() {
  case "$1" in
    etcd) echo ./cmd/etcd ;;
    kube-apiserver) echo k8s.io/kubernetes/cmd/kube-apiserver ;;
    kube-controller-manager) echo k8s.io/kubernetes/cmd/kube-controller-manager ;;
    kubectl) echo k8s.io/kubernetes/cmd/kubectl ;;
    kubelet) echo k8s.io/kubernetes/cmd/kubelet ;;
    kube-scheduler) echo k8s.io/kubernetes/cmd/kube-scheduler ;;
    kube-proxy) echo k8s.io/kubernetes/cmd/kube-proxy ;;
    helm) echo helm.sh/helm/v3/cmd/helm ;;
    *) die "unknown binary $1" ;;
  esac
}

ldflags() {
  local k8s_minor k8s_major build_date
  k8s_major=$(cut -d. -f1 <<<"${K8S_VERSION#v}")
  k8s_minor=$(cut -d. -f2 <<<"${K8S_VERSION#v}")
  # Use the release time of the kubernetes module, so builds are reproducible.
  build_date=$(cd "$TOOLS_DIR" && go list -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' k8s.io/kubernetes 2>/dev/null || true)
  : "${build_date:=1970-01-01T00:00:00Z}"
  local f=(-s -w)
  local p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    f+=(-X "$p.gitVersion=$K8S_VERSION" -X "$p.gitMajor=$k8s_major" -X "$p.gitMinor=$k8s_minor"
      -X "$p.gitCommit=" -X "$p.gitTreeState=clean" -X "$p.buildDate=$build_date")
  done
  f+=(-X "go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION")
  f+=(-X "helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
    -X "helm.sh/helm/v3/internal/version.gitTreeState=clean"
    -X "helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=$k8s_major"
    -X "helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$k8s_minor"
    -X "helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=$k8s_major"
    -X "helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$k8s_minor")
  echo "${f[*]}"
}

# Identifies what a cached binary was built from: when go.mod/go.sum, the etcd
# wrapper or this script's build recipe change, the binary is rebuilt.
BUILD_RECIPE=4
build_key() {
  {
    echo "recipe=$BUILD_RECIPE bin=$1"
    cat "$GOMOD" "$TOOLS_DIR/go.sum"
    [[ "$1" != etcd ]] || cat "$TOOLS_DIR/cmd/etcd/main.go"
  } | sha256sum | cut -c1-32
}

is_exe() { [[ -f "$1" && -x "$1" ]]; }

# Up to date in BIN_DIR?
built() { is_exe "$BIN_DIR/$1" && [[ "$(cat "$STAMP_DIR/$1" 2>/dev/null)" == "$(build_key "$1")" ]]; }

assets_usable() {
  [[ -n "${KUBEBUILDER_ASSETS:-}" && -d "$KUBEBUILDER_ASSETS" ]] || return 1
  local b
  for b in "${ENVTEST_BINARIES[@]}"; do is_exe "$KUBEBUILDER_ASSETS/$b" || return 1; done
}

# Directory where binary $1 is found (without building), or empty.
source_dir_for() {
  if assets_usable && is_exe "$KUBEBUILDER_ASSETS/$1"; then
    echo "$KUBEBUILDER_ASSETS"
  elif is_exe "$BIN_DIR/$1"; then
    echo "$BIN_DIR"
  fi
}

# Directory that holds all binaries: BIN_DIR, KUBEBUILDER_ASSETS, or a dir of
# symlinks merging the two.
output_dir() {
  if ! assets_usable; then echo "$BIN_DIR"; return; fi
  local b all=1
  for b in "${BINARIES[@]}"; do is_exe "$KUBEBUILDER_ASSETS/$b" || all=0; done
  if ((all)); then echo "$(cd "$KUBEBUILDER_ASSETS" && pwd)"; return; fi
  local merged="$VERSION_DIR/assets"
  mkdir -p "$merged"
  for b in "${BINARIES[@]}"; do
    local src
    src=$(source_dir_for "$b")
    if [[ -n "$src" ]]; then
      src=$(cd "$src" && pwd)
      ln -sfn "$src/$b" "$merged/.$b.tmp" && mv -fT "$merged/.$b.tmp" "$merged/$b"
    else
      rm -f "$merged/$b"
    fi
  done
  echo "$merged"
}

fmt_secs() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

build() {
  local want=("$@")
  command -v go >/dev/null || die "go is not installed (need Go >= $(awk '$1=="go"{print $2}' "$GOMOD"))"
  mkdir -p "$BIN_DIR" "$STAMP_DIR"

  local pkgs=() b
  for b in "${want[@]}"; do pkgs+=("$(pkg_for "$b")"); done

  local tmp log_file
  tmp=$(mktemp -d "$BIN_DIR/.build.XXXXXX")
  log_file="$tmp/build.log"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT

  log "building ${want[*]} (kubernetes $K8S_VERSION, etcd $ETCD_VERSION, helm $HELM_VERSION) with $(go version | awk '{print $3}')"
  log "into $BIN_DIR; a cold build of all five takes ~8-10 min on 2 cores (plus module downloads)"
  local ld total
  log "resolving packages (the first run also downloads ~1 GB of Go modules)"
  ld=$(ldflags)
  # Number of non-std packages involved, for the progress messages (std is
  # usually in the build cache already and not printed by `go build -v`).
  total=$(cd "$TOOLS_DIR" && CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" \
    go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' "${pkgs[@]}" 2>/dev/null | grep -c . || true)
  local start=$SECONDS
  local jobs=()
  [[ -z "${ENVTEST_BUILD_JOBS:-}" ]] || jobs=(-p "$ENVTEST_BUILD_JOBS")
  (
    cd "$TOOLS_DIR"
    export CGO_ENABLED=0
    # GOFLAGS from the user's environment could add -mod=vendor etc.; be explicit.
    export GOFLAGS="-mod=readonly -buildvcs=false"
    exec go build "${jobs[@]}" -v -trimpath -ldflags "$ld" -o "$tmp/" "${pkgs[@]}"
  ) >"$log_file" 2>&1 &
  local pid=$!
  # shellcheck disable=SC2064
  trap "kill $pid 2>/dev/null || true; rm -rf '$tmp'" EXIT
  trap 'exit 130' INT TERM

  local n last=""
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$pid" 2>/dev/null || break
    n=$(grep -cv '^go: downloading' "$log_file" 2>/dev/null || true)
    last=$(tail -n 1 "$log_file" 2>/dev/null || true)
    log "still building: $(fmt_secs $((SECONDS - start))) elapsed, ${n:-0}/~${total:-?} packages compiled (last: ${last:-none})"
  done
  local rc=0
  wait "$pid" || rc=$?
  if ((rc != 0)); then
    grep -v '^[a-zA-Z0-9._/-]*$' "$log_file" | tail -n 40 >&2 || true
    die "go build failed (exit $rc) after $(fmt_secs $((SECONDS - start))); compiler errors above"
  fi

  for b in "${want[@]}"; do
    is_exe "$tmp/$b" || die "go build did not produce $b"
    mv -f "$tmp/$b" "$BIN_DIR/$b"
    build_key "$b" >"$STAMP_DIR/.$b.tmp" && mv -f "$STAMP_DIR/.$b.tmp" "$STAMP_DIR/$b"
  done
  rm -rf "$tmp"
  trap - EXIT
  log "built ${want[*]} in $(fmt_secs $((SECONDS - start)))"
}

install() {
  mkdir -p "$CACHE_ROOT"
  # Serialise concurrent runs (e.g. parallel test harnesses) on the same cache.
  if command -v flock >/dev/null; then
    exec 9>"$CACHE_ROOT/.envtest.lock"
    if ! flock -n 9; then
      log "waiting for another hack/envtest.sh run to finish (lock $CACHE_ROOT/.envtest.lock)"
      flock 9
    fi
  fi

  local missing=() b
  if assets_usable; then
    log "reusing ${ENVTEST_BINARIES[*]} from KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"
  fi
  for b in "${BINARIES[@]}"; do
    if assets_usable && is_exe "$KUBEBUILDER_ASSETS/$b"; then continue; fi
    built "$b" || missing+=("$b")
  done
  if ((${#missing[@]})); then
    build "${missing[@]}"
  else
    log "all binaries up to date"
  fi
  output_dir
}

# The node binaries, always in BIN_DIR (KUBEBUILDER_ASSETS never has them).
install_node() {
  mkdir -p "$CACHE_ROOT"
  if command -v flock >/dev/null; then
    exec 9>"$CACHE_ROOT/.envtest.lock"
    if ! flock -n 9; then
      log "waiting for another hack/envtest.sh run to finish (lock $CACHE_ROOT/.envtest.lock)"
      flock 9
    fi
  fi
  local missing=() b
  for b in "${NODE_BINARIES[@]}"; do built "$b" || missing+=("$b"); done
  if ((${#missing[@]})); then
    build "${missing[@]}"
  else
    log "node binaries up to date"
  fi
  echo "$BIN_DIR"
}

versions() {
  local b dir
  for b in "${BINARIES[@]}"; do
    dir=$(source_dir_for "$b")
    if [[ -z "$dir" ]]; then
      printf '%-24s %s\n' "$b" "not built (run hack/envtest.sh)"
      continue
    fi
    local v
    case "$b" in
      etcd) v=$("$dir/$b" --version 2>&1 | awk -F': ' '/etcd Version/{print "v"$2}') ;;
      kube-apiserver | kube-controller-manager) v=$("$dir/$b" --version 2>&1 | awk '{print $2}') ;;
      kubectl) v=$("$dir/$b" version --client 2>&1 | awk -F': ' '/Client Version/{print $2}') ;;
      helm) v=$("$dir/$b" version --short 2>&1) ;;
    esac
    printf '%-24s %-12s %s\n' "$b" "${v:-unknown}" "$dir/$b"
  done
}

case "${1:-install}" in
  install) install ;;
  node) install_node ;;
  versions) versions ;;
  path) output_dir ;;
  -h | --help | help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" ;;
  *) die "unknown command '$1' (try: install, versions, path, help)" ;;
esac
