#!/usr/bin/env bash
# hack/node-tools.sh - build the container runtime of the `make e2e-node` test node from Go
# modules pinned in hack/node-tools/go.mod: containerd v2 (daemon, runc shim, ctr), runc (cgo,
# with seccomp: the chart asks for the RuntimeDefault profile) and the CNI plugins (bridge,
# host-local, loopback, portmap). The kubelet, kube-scheduler and kube-proxy come from
# `hack/envtest.sh node` (the same Kubernetes module set as the control plane).
#
# Usage: hack/node-tools.sh   build what is missing or stale; print the bin dir as the LAST line
#                             of stdout (CNI plugins in <bin dir>/cni); progress goes to stderr.
# Cache: $CLERK_OPERATOR_CACHE (default ~/.cache/clerk-operator)/node-tools/bin, keyed by
# go.mod/go.sum and this script's recipe.
set -euo pipefail
HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOG_TAG=node-tools
# shellcheck source=hack/lib.sh
source "$HACK_DIR/lib.sh"

MOD_DIR="$HACK_DIR/node-tools"
BIN_DIR="$CACHE_ROOT/node-tools/bin"
STAMP_DIR="$BIN_DIR/.stamps"
RECIPE=1

mod_version() { awk -v m="$1" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$MOD_DIR/go.mod"; }
CONTAINERD_VERSION=$(mod_version github.com/containerd/containerd/v2)
RUNC_VERSION=$(mod_version github.com/opencontainers/runc)
CNI_VERSION=$(mod_version github.com/containernetworking/plugins)

key() { { echo "recipe=$RECIPE $1"; cat "$MOD_DIR/go.mod" "$MOD_DIR/go.sum"; } | sha256sum | cut -c1-32; }
built() { is_exe "$BIN_DIR/$1" && [[ "$(cat "$STAMP_DIR/${1//\//_}" 2>/dev/null)" == "$(key "$1")" ]]; }

# go_build OUT_SUBDIR CGO TAGS LDFLAGS NAME... PKG...: NAMES are the binaries produced.
go_build() {
  local sub=$1 cgo=$2 tags=$3 ld=$4
  shift 4
  local names=() pkgs=()
  while (($#)); do
    if [[ "$1" == */* ]]; then pkgs+=("$1"); else names+=("$1"); fi
    shift
  done
  local todo=() n
  for n in "${names[@]}"; do built "$sub$n" || todo+=("$n"); done
  if ((${#todo[@]} == 0)); then return 0; fi
  mkdir -p "$BIN_DIR/$sub" "$STAMP_DIR"
  local tmp
  tmp=$(mktemp -d "$BIN_DIR/.build.XXXXXX")
  log "building ${names[*]} (CGO_ENABLED=$cgo${tags:+, tags $tags}) with $(go version | awk '{print $3}')"
  run_with_progress "building ${names[*]}" "$tmp/build.log" \
    env -C "$MOD_DIR" CGO_ENABLED="$cgo" GOFLAGS="-mod=readonly -buildvcs=false" \
    go build -v -trimpath ${tags:+-tags "$tags"} -ldflags "$ld" -o "$tmp/" "${pkgs[@]}"
  for n in "${names[@]}"; do
    is_exe "$tmp/$n" || die "go build did not produce $n"
    mv -f "$tmp/$n" "$BIN_DIR/$sub$n"
    key "$sub$n" >"$STAMP_DIR/${sub//\//_}$n"
  done
  rm -rf "$tmp"
}

main() {
  command -v go >/dev/null || die "go is not installed"
  cache_lock node-tools
  need_debs libseccomp-dev gcc pkg-config
  local start=$SECONDS
  go_build "" 0 "no_btrfs" \
    "-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION -X github.com/containerd/containerd/v2/version.Revision=module" \
    containerd containerd-shim-runc-v2 ctr \
    github.com/containerd/containerd/v2/cmd/containerd \
    github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
    github.com/containerd/containerd/v2/cmd/ctr
  go_build "" 1 "seccomp" "-s -w -X main.version=${RUNC_VERSION#v}" runc github.com/opencontainers/runc
  go_build cni/ 0 "" "-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$CNI_VERSION" \
    bridge host-local loopback portmap \
    github.com/containernetworking/plugins/plugins/main/bridge \
    github.com/containernetworking/plugins/plugins/ipam/host-local \
    github.com/containernetworking/plugins/plugins/main/loopback \
    github.com/containernetworking/plugins/plugins/meta/portmap
  "$BIN_DIR/runc" --version | grep -q seccomp || die "runc was built without seccomp"
  log "containerd $CONTAINERD_VERSION, runc $RUNC_VERSION, CNI plugins $CNI_VERSION up to date in $BIN_DIR ($(fmt_secs $((SECONDS - start))))"
  echo "$BIN_DIR"
}

main "$@"
