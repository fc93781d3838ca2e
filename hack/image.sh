#!/usr/bin/env bash
# hack/image.sh - build the operator image from the repository's Dockerfile, used verbatim, with
# buildah (Debian package; chroot isolation, storage under the project cache; no Docker engine,
# no registry), and export it as archives.
#
# The Dockerfile's base images cannot be pulled here, so this script first makes faithful local
# equivalents and tags them with the upstream names; the build then runs with --pull=never:
#   gcr.io/distroless/cc-debian12:nonroot  the files of the Debian bookworm packages distroless
#       cc-debian12 is made of (libc6 libssl3 libgomp1 libstdc++6 libgcc-s1 gcc-12-base
#       base-files netbase tzdata, plus the Mozilla CA bundle), unpacked without maintainer
#       scripts as distroless does, plus its passwd/group (nonroot = 65532), nsswitch.conf,
#       /tmp 1777, /home/nonroot, and its config (USER 65532, WORKDIR /home/nonroot, PATH,
#       SSL_CERT_FILE).
#   rust:<version>-bookworm  an mmdebstrap'ed bookworm (buildd variant: build-essential) with
#       ca-certificates curl git pkg-config, plus this machine's Rust toolchain of that version
#       in /usr/local/rustup and rustup's proxies in /usr/local/cargo/bin, with the official
#       image's RUSTUP_HOME, CARGO_HOME, PATH and RUST_VERSION.
#
# The Dockerfile pins both bases by digest; those registry digests cannot exist locally, so the
# build passes the tags alone (--build-arg RUST_IMAGE / RUNTIME_IMAGE) and the local equivalents
# stand in. The image is built for this machine's architecture (--platform linux/<arch>): the
# Dockerfile builds natively, one platform per builder.
#
# Usage:
#   hack/image.sh [build]   build (cached: buildah --layers, bases keyed by their inputs); print
#                           the docker-archive path as the LAST line of stdout
#   hack/image.sh pause     build registry.k8s.io/pause:<version> from build/pause in the
#                           k8s.io/kubernetes module (for the e2e-node test node); print its archive
#   hack/image.sh inspect   print the built image's config (user, entrypoint, labels, ...)
#   hack/image.sh check     read the built image's binary from the archive: its ELF machine must be
#                           the config's architecture (this machine's); the base digest label must
#                           be the Dockerfile's pinned one
# Output: $CLERK_OPERATOR_CACHE (default ~/.cache/clerk-operator)/images/
#   clerk-operator-<version>.docker.tar (docker-archive, `docker load` / `ctr images import`)
#   clerk-operator-<version>.oci.tar    (oci-archive)
set -euo pipefail
HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$HACK_DIR/.." && pwd)
LOG_TAG=image
# shellcheck source=hack/lib.sh
source "$HACK_DIR/lib.sh"

IMG_DIR="$CACHE_ROOT/images"
STORE="$CACHE_ROOT/containers"
RECIPE=1

# Everything runs in a private mount namespace: buildah's overlay and chroot mounts (and
# mmdebstrap's) never appear in the host's mount table and vanish with the namespace.
if [[ "${CLERK_IMAGE_NS:-}" != 1 ]]; then
  [[ $(id -u) == 0 ]] || die "run as root (buildah with chroot isolation in a private mount namespace)"
  need_debs buildah mmdebstrap uidmap jq
  export CLERK_IMAGE_NS=1
  exec unshare --mount --propagation private -- bash "${BASH_SOURCE[0]}" "$@"
fi

mkdir -p "$IMG_DIR" "$STORE/storage" "$STORE/run" "$STORE/conf" "$STORE/tmp"
cache_lock image
# Runtime state (mount counts, locks) lives on a tmpfs of this namespace only.
mount -t tmpfs -o mode=0700 tmpfs "$STORE/run"
cat >"$STORE/conf/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$STORE/storage"
runroot = "$STORE/run"
CONF
cat >"$STORE/conf/registries.conf" <<'CONF'
unqualified-search-registries = ["docker.io"]
short-name-mode = "permissive"
CONF
cat >"$STORE/conf/policy.json" <<'CONF'
{"default": [{"type": "insecureAcceptAnything"}]}
CONF
cat >"$STORE/conf/containers.conf" <<CONF
[network]
network_config_dir = "$STORE/conf/cni"
CONF
export CONTAINERS_STORAGE_CONF="$STORE/conf/storage.conf"
export CONTAINERS_REGISTRIES_CONF="$STORE/conf/registries.conf"
export CONTAINERS_CONF="$STORE/conf/containers.conf"
export TMPDIR="$STORE/tmp"
BUILDAH=(buildah --storage-driver overlay --root "$STORE/storage" --runroot "$STORE/run")
POLICY=(--signature-policy "$STORE/conf/policy.json")

# The Dockerfile's ARG defaults.
dockerfile_arg() { sed -n "s/^ARG $1=//p" "$REPO_DIR/Dockerfile" | head -n1; }
RUST_REF=$(dockerfile_arg RUST_IMAGE)
RUNTIME_REF=$(dockerfile_arg RUNTIME_IMAGE)
[[ "$RUST_REF" == *@sha256:* && "$RUNTIME_REF" == *@sha256:* ]] || die "the Dockerfile's base images must be pinned by digest (NAME:TAG@sha256:...)"
# The tags alone: what the local equivalents are called.
RUST_IMAGE=${RUST_REF%@*}
RUNTIME_IMAGE=${RUNTIME_REF%@*}
ARCH=$(dpkg --print-architecture)
[[ "$ARCH" == amd64 || "$ARCH" == arm64 ]] || die "no image for architecture $ARCH (amd64, arm64)"
[[ "$RUNTIME_IMAGE" == gcr.io/distroless/cc-debian12:* ]] || die "no local recipe for $RUNTIME_IMAGE"
[[ "$RUST_IMAGE" =~ ^rust:([0-9]+\.[0-9]+)(\.[0-9]+)?-bookworm$ ]] || die "no local recipe for $RUST_IMAGE"
RUST_WANT=${BASH_REMATCH[1]}${BASH_REMATCH[2]}
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO_DIR/Cargo.toml" | head -n1)
IMAGE="docker.io/library/clerk-operator:$VERSION"

# Fully qualified names, as Docker would resolve them.
qualify() {
  case "$1" in
    */*/*) echo "$1" ;;
    */*) echo "docker.io/$1" ;;
    *) echo "docker.io/library/$1" ;;
  esac
}

image_exists() { "${BUILDAH[@]}" inspect --type image "$1" >/dev/null 2>&1; }
stamp_ok() { image_exists "$1" && [[ "$(cat "$IMG_DIR/.stamp-${1//[\/:]/_}" 2>/dev/null)" == "$2" ]]; }
stamp_set() { echo "$2" >"$IMG_DIR/.stamp-${1//[\/:]/_}"; }

# Download bookworm .debs (the host is bookworm; apt's lists name the current versions).
apt_download() {
  local dir=$1
  shift
  (cd "$dir" && apt-get download "$@" >&2) || {
    apt-get update >&2
    (cd "$dir" && apt-get download "$@" >&2)
  }
}

DISTROLESS_DEBS=(libc6 libssl3 libgomp1 libstdc++6 libgcc-s1 gcc-12-base base-files netbase tzdata ca-certificates)

runtime_base() {
  local name key
  name=$(qualify "$RUNTIME_IMAGE")
  key=$({
    echo "recipe=$RECIPE"
    apt-cache policy "${DISTROLESS_DEBS[@]}" | grep -E '^[^ ]|Candidate'
  } | sha256sum | cut -c1-32)
  if stamp_ok "$name" "$key"; then log "$name is up to date"; return; fi
  log "making $name from bookworm packages: ${DISTROLESS_DEBS[*]}"
  local w="$STORE/tmp/distroless"
  rm -rf "$w"
  mkdir -p "$w/debs" "$w/root"
  apt_download "$w/debs" "${DISTROLESS_DEBS[@]}"
  local deb
  for deb in "$w"/debs/*.deb; do dpkg-deb -x "$deb" "$w/root"; done
  local r="$w/root"
  # As distroless base/base.bzl: users, groups, nsswitch, CA bundle, /tmp, home dirs.
  mkdir -p "$r/etc/ssl/certs" "$r/tmp" "$r/home/nonroot" "$r/root" "$r/var/lib/dpkg/status.d"
  cat >"$r/etc/passwd" <<'P'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
P
  cat >"$r/etc/group" <<'G'
root:x:0:
nobody:x:65534:
tty:x:5:
staff:x:50:
nonroot:x:65532:
G
  cat >"$r/etc/nsswitch.conf" <<'N'
passwd:         files
group:          files
shadow:         files
hosts:          files dns
networks:       files
protocols:      files
services:       files
ethers:         files
rpc:            files
N
  cat "$r"/usr/share/ca-certificates/mozilla/*.crt >"$r/etc/ssl/certs/ca-certificates.crt"
  # The package list distroless records (one file per package, dpkg status format).
  for deb in "$w"/debs/*.deb; do
    dpkg-deb -f "$deb" >"$r/var/lib/dpkg/status.d/$(dpkg-deb -f "$deb" Package)"
  done
  chmod 1777 "$r/tmp"
  chmod 0700 "$r/root" "$r/home/nonroot"
  tar -C "$r" --numeric-owner --owner=0 --group=0 -cf "$w/rootfs.tar" --exclude=./home/nonroot .
  tar -C "$r" --numeric-owner --owner=65532 --group=65532 -rf "$w/rootfs.tar" ./home/nonroot
  local ctr
  ctr=$("${BUILDAH[@]}" from "${POLICY[@]}" --pull=never scratch)
  "${BUILDAH[@]}" add "$ctr" "$w/rootfs.tar" / >/dev/null
  "${BUILDAH[@]}" config --os linux --arch "$ARCH" --user 65532 --workingdir /home/nonroot \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    --label "org.clerk-operator.local-base=distroless cc-debian12 from bookworm packages (hack/image.sh)" "$ctr"
  "${BUILDAH[@]}" commit --quiet "$ctr" "$name" >/dev/null
  "${BUILDAH[@]}" rm "$ctr" >/dev/null
  rm -rf "$w"
  stamp_set "$name" "$key"
  log "tagged $name"
}

host_toolchain() {
  local rustc v
  rustc=$(command -v rustc) || die "rustc is not installed (the builder base copies this machine's toolchain)"
  v=$(rustc --version | awk '{print $2}')
  [[ "$v" == "$RUST_WANT" || "$v" == "$RUST_WANT".* ]] ||
    die "$RUST_IMAGE needs Rust $RUST_WANT, but this machine's rustc is $v"
  echo "$v $(rustc --print sysroot)"
}

rust_base() {
  local name v sysroot key
  name=$(qualify "$RUST_IMAGE")
  read -r v sysroot < <(host_toolchain)
  key=$(echo "recipe=$RECIPE rust=$v $(rustc -vV | sha256sum)" | sha256sum | cut -c1-32)
  if stamp_ok "$name" "$key"; then log "$name is up to date"; return; fi
  local w="$STORE/tmp/rust"
  rm -rf "$w"
  mkdir -p "$w"
  log "making $name: mmdebstrap bookworm (buildd variant; 2-4 min) + Rust $v from $sysroot"
  run_with_progress "running mmdebstrap" "$w/mmdebstrap.log" \
    mmdebstrap --variant=buildd --include=ca-certificates,curl,git,pkg-config,netbase \
    bookworm "$w/rootfs.tar" http://deb.debian.org/debian
  local tc="x86_64-unknown-linux-gnu" s="$w/stage"
  mkdir -p "$s/usr/local/rustup/toolchains/$v-$tc" "$s/usr/local/cargo/bin"
  local d
  for d in bin lib libexec etc; do
    [[ -e "$sysroot/$d" ]] && cp -a "$sysroot/$d" "$s/usr/local/rustup/toolchains/$v-$tc/"
  done
  printf 'version = "12"\ndefault_toolchain = "%s"\nprofile = "minimal"\n\n[overrides]\n' "$v-$tc" \
    >"$s/usr/local/rustup/settings.toml"
  local rustup_bin
  if rustup_bin=$(command -v rustup); then
    cp -L "$rustup_bin" "$s/usr/local/cargo/bin/rustup"
    for d in cargo cargo-clippy cargo-fmt clippy-driver rustc rustdoc rustfmt rust-gdb rust-lldb; do
      [[ -e "$sysroot/bin/$d" ]] && ln -s rustup "$s/usr/local/cargo/bin/$d"
    done
  else
    for d in "$sysroot"/bin/*; do ln -s "/usr/local/rustup/toolchains/$v-$tc/bin/${d##*/}" "$s/usr/local/cargo/bin/"; done
  fi
  chmod -R a+w "$s/usr/local/rustup" "$s/usr/local/cargo"
  local ctr
  ctr=$("${BUILDAH[@]}" from "${POLICY[@]}" --pull=never scratch)
  "${BUILDAH[@]}" add "$ctr" "$w/rootfs.tar" / >/dev/null
  "${BUILDAH[@]}" copy "$ctr" "$s" / >/dev/null
  "${BUILDAH[@]}" config --os linux --arch "$ARCH" \
    --env RUSTUP_HOME=/usr/local/rustup --env CARGO_HOME=/usr/local/cargo \
    --env PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env RUST_VERSION="$v" --cmd bash \
    --label "org.clerk-operator.local-base=rust $v on mmdebstrap bookworm (hack/image.sh)" "$ctr"
  log "checking the toolchain inside the builder"
  local got
  got=$("${BUILDAH[@]}" run --isolation chroot "$ctr" -- sh -c 'cargo --version && rustc --version && cc --version | head -n1')
  log "builder: $(tr '\n' ';' <<<"$got")"
  grep -q "^rustc $v " <<<"$got" || die "the builder's rustc is not $v"
  "${BUILDAH[@]}" commit --quiet "$ctr" "$name" >/dev/null
  "${BUILDAH[@]}" rm "$ctr" >/dev/null
  rm -rf "$w"
  stamp_set "$name" "$key"
  log "tagged $name"
}

# The build context that .dockerignore lets in (keep the two in step).
CONTEXT=(Cargo.toml Cargo.lock src crates/clerk-model crates/fake-clerk/Cargo.toml crates/test-kit/Cargo.toml)

# What the image is made of: the build context the .dockerignore lets in, the Dockerfile, the
# build arguments that change the result, and the two base images. The exported archive is reused
# while this key is unchanged (the revision label then names the commit it was built from).
image_key() {
  local RUNTIME_NAME RUST_NAME
  RUNTIME_NAME=$(qualify "$RUNTIME_IMAGE")
  RUST_NAME=$(qualify "$RUST_IMAGE")
  {
    echo "recipe=$RECIPE version=$VERSION"
    cat "$REPO_DIR/Dockerfile" "$REPO_DIR/.dockerignore"
    (cd "$REPO_DIR" && find "${CONTEXT[@]}" -type f | LC_ALL=C sort | xargs sha256sum)
    cat "$IMG_DIR/.stamp-${RUNTIME_NAME//[\/:]/_}" "$IMG_DIR/.stamp-${RUST_NAME//[\/:]/_}"
  } | sha256sum | cut -c1-32
}

build_image() {
  local start=$SECONDS
  runtime_base
  rust_base
  local key
  key=$(image_key)
  if [[ "$(cat "$IMG_DIR/.image-key" 2>/dev/null)" == "$key" && -s "$IMG_DIR/clerk-operator-$VERSION.docker.tar" ]] &&
    image_exists "$IMAGE"; then
    log "$IMAGE is up to date (same Dockerfile, context and bases): $IMG_DIR/clerk-operator-$VERSION.docker.tar"
    echo "$IMG_DIR/clerk-operator-$VERSION.docker.tar"
    return
  fi
  # buildah 1.28 reuses a cached LABEL step even when a build argument in it changed (seen with
  # `LABEL r=${R}` and two values of R), so the revision label is also set with --label, which
  # applies to the committed image whatever the cache holds.
  local rev
  rev=$(git -C "$REPO_DIR" rev-parse HEAD 2>/dev/null || echo unknown)
  if [[ "$rev" != unknown ]] && ! git -C "$REPO_DIR" diff --quiet HEAD -- Dockerfile "${CONTEXT[@]}" 2>/dev/null; then
    rev="$rev-dirty"
  fi
  log "buildah build of $REPO_DIR/Dockerfile -> $IMAGE (revision $rev); a cold build compiles the release binary (~10-20 min on 2 busy cores), a warm one reuses the cached layers"
  # RUN steps reach crates.io through this machine's network; when it trusts extra CAs (a
  # TLS-inspecting egress proxy here), they see the host's CA bundle through a build-time
  # volume, which is never committed into a layer.
  local volumes=()
  if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null && [[ -s /etc/ssl/certs/ca-certificates.crt ]]; then
    log "the host trusts local CAs ($(cd /usr/local/share/ca-certificates && echo *.crt)): RUN steps get its CA bundle (not committed)"
    volumes=(--volume /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro)
  fi
  run_with_progress "building the image" "$IMG_DIR/build.log" \
    "${BUILDAH[@]}" build "${POLICY[@]}" --pull=never --layers --isolation chroot "${volumes[@]}" \
    -f "$REPO_DIR/Dockerfile" --platform "linux/$ARCH" \
    --build-arg RUST_IMAGE="$RUST_IMAGE" --build-arg RUNTIME_IMAGE="$RUNTIME_IMAGE" \
    --build-arg VERSION="$VERSION" --build-arg REVISION="$rev" \
    --build-arg SOURCE="https://github.com/clerk-operator/clerk-operator" \
    --label org.opencontainers.image.revision="$rev" \
    -t "$IMAGE" "$REPO_DIR"
  local id
  id=$("${BUILDAH[@]}" inspect --type image --format '{{.FromImageID}}' "$IMAGE")
  if [[ "$(cat "$IMG_DIR/.exported" 2>/dev/null)" != "$id" || ! -s "$IMG_DIR/clerk-operator-$VERSION.docker.tar" ]]; then
    rm -f "$IMG_DIR/clerk-operator-$VERSION".{docker,oci}.tar
    "${BUILDAH[@]}" push "${POLICY[@]}" --quiet "$IMAGE" \
      "docker-archive:$IMG_DIR/clerk-operator-$VERSION.docker.tar:$IMAGE"
    "${BUILDAH[@]}" push "${POLICY[@]}" --quiet "$IMAGE" \
      "oci-archive:$IMG_DIR/clerk-operator-$VERSION.oci.tar:$IMAGE"
    echo "$id" >"$IMG_DIR/.exported"
  fi
  echo "$key" >"$IMG_DIR/.image-key"
  log "image $IMAGE ($id) in $(fmt_secs $((SECONDS - start))): $IMG_DIR/clerk-operator-$VERSION.docker.tar"
  echo "$IMG_DIR/clerk-operator-$VERSION.docker.tar"
}

# registry.k8s.io/pause from the Kubernetes module's build/pause (pause.c and its Dockerfile).
pause_image() {
  local kdir ver
  kdir=$(cd "$HACK_DIR/tools" && GOFLAGS=-mod=readonly go list -m -f '{{.Dir}}' k8s.io/kubernetes)
  [[ -n "$kdir" && -f "$kdir/build/pause/linux/pause.c" ]] ||
    { (cd "$HACK_DIR/tools" && go mod download k8s.io/kubernetes); kdir=$(cd "$HACK_DIR/tools" && go list -m -f '{{.Dir}}' k8s.io/kubernetes); }
  ver=$(sed -n 's/^TAG ?= *//p' "$kdir/build/pause/Makefile")
  [[ -n "$ver" ]] || die "no TAG in $kdir/build/pause/Makefile"
  local name="registry.k8s.io/pause:$ver" out="$IMG_DIR/pause-$ver.docker.tar" key
  key=$(cat "$kdir/build/pause/linux/pause.c" "$kdir/build/pause/Dockerfile" | sha256sum | cut -c1-32)
  if stamp_ok "$name" "$key" && [[ -s "$out" ]]; then log "$name is up to date"; echo "$out"; return; fi
  need_debs gcc libc6-dev
  local w="$STORE/tmp/pause"
  rm -rf "$w"
  mkdir -p "$w/bin"
  # As build/pause/Makefile: a static binary, VERSION compiled in.
  gcc -Os -Wall -Werror -static -DVERSION="$ver-clerk-operator" -o "$w/bin/pause-linux-amd64" "$kdir/build/pause/linux/pause.c"
  cp "$kdir/build/pause/Dockerfile" "$w/Dockerfile"
  "${BUILDAH[@]}" build "${POLICY[@]}" --pull=never --isolation chroot --quiet \
    --build-arg BASE=scratch --build-arg ARCH=amd64 -t "$name" "$w" >/dev/null
  rm -f "$out"
  "${BUILDAH[@]}" push "${POLICY[@]}" --quiet "$name" "docker-archive:$out:$name"
  rm -rf "$w"
  stamp_set "$name" "$key"
  log "built $name: $out"
  echo "$out"
}

# The config as stored in the exported docker-archive (what `docker load` would get).
inspect_image() {
  local tar="$IMG_DIR/clerk-operator-$VERSION.docker.tar" cfg
  [[ -s "$tar" ]] || die "no $tar: run hack/image.sh build"
  cfg=$(tar -xOf "$tar" manifest.json | jq -r '.[0].Config')
  echo "archive: $tar ($(du -h "$tar" | cut -f1)), tags $(tar -xOf "$tar" manifest.json | jq -c '.[0].RepoTags')"
  tar -xOf "$tar" "$cfg" | jq '{architecture, os, user: .config.User, entrypoint: .config.Entrypoint,
    cmd: .config.Cmd, workdir: .config.WorkingDir, env: .config.Env, exposedPorts: .config.ExposedPorts,
    labels: .config.Labels, layers: (.rootfs.diff_ids | length)}'
}

# The ELF machine of the image's /clerk-operator (read from the layer that holds it) against the
# config's architecture, and the base digest label against the Dockerfile's pin.
check_image() {
  local tar="$IMG_DIR/clerk-operator-$VERSION.docker.tar" w cfg arch layer machine want label
  [[ -s "$tar" ]] || die "no $tar: run hack/image.sh build"
  w=$(mktemp -d)
  trap 'rm -rf "$w"' RETURN
  tar -xf "$tar" -C "$w" manifest.json
  cfg=$(jq -r '.[0].Config' "$w/manifest.json")
  tar -xf "$tar" -C "$w" "$cfg"
  arch=$(jq -r .architecture "$w/$cfg")
  for layer in $(jq -r '.[0].Layers | reverse | .[]' "$w/manifest.json"); do
    tar -xf "$tar" -C "$w" "$layer"
    if tar -tf "$w/$layer" 2>/dev/null | grep -qx 'clerk-operator\|\./clerk-operator'; then
      tar -xf "$w/$layer" -C "$w" --wildcards 'clerk-operator' './clerk-operator' 2>/dev/null || true
      break
    fi
  done
  [[ -s "$w/clerk-operator" ]] || die "no /clerk-operator in any layer of $tar"
  [[ "$(od -An -N4 -c "$w/clerk-operator" | tr -d ' ')" == '177ELF' ]] || die "/clerk-operator is not an ELF file"
  machine=$(od -An -j18 -N2 -tu2 "$w/clerk-operator" | tr -d ' ')
  case "$arch" in amd64) want=62 ;; arm64) want=183 ;; *) die "image architecture $arch" ;; esac
  [[ "$machine" == "$want" ]] || die "image for $arch, but /clerk-operator has ELF machine $machine (want $want)"
  [[ "$arch" == "$ARCH" ]] || die "image for $arch built on $ARCH"
  label=$(jq -r '.config.Labels["org.opencontainers.image.base.digest"] // ""' "$w/$cfg")
  [[ "$label" == "${RUNTIME_REF#*@}" ]] || die "base digest label $label is not the Dockerfile's ${RUNTIME_REF#*@}"
  log "image check: linux/$arch, /clerk-operator is ELF machine $machine ($(du -h "$w/clerk-operator" | cut -f1)), base pinned at ${RUNTIME_REF#*@}"
}

case "${1:-build}" in
  build) build_image ;;
  check) check_image ;;
  pause) pause_image ;;
  inspect) inspect_image ;;
  -h | --help | help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" ;;
  *) die "unknown command '$1' (try: build, pause, inspect, check, help)" ;;
esac
