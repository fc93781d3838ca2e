# syntax=docker/dockerfile:1
# clerk-operator image: docker build -t clerk-operator:0.1.0 .
# The result holds only the release binary on distroless (glibc, CA certificates,
# no shell), runs as UID 65532 and fits the Pod Security Standard "restricted".
#
# One platform per build, built natively: `--platform linux/amd64` on an amd64 builder,
# `--platform linux/arm64` on an arm64 one (the release workflow runs one runner per
# architecture and joins the two images in one manifest list). The builder stage checks that
# its Rust toolchain and the binary it made are of TARGETARCH.
#
# Base images are pinned by digest (the multi-architecture index of each tag).

ARG RUST_IMAGE=rust:1.95-bookworm@sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f

FROM ${RUST_IMAGE} AS builder
ARG TARGETARCH
WORKDIR /src
# The Rust host triple of TARGETARCH (set by BuildKit and buildah from --platform; amd64 when
# unset), which the toolchain of this stage must be: the build is native, never cross.
RUN arch="${TARGETARCH:-amd64}" \
 && case "$arch" in amd64) triple=x86_64-unknown-linux-gnu ;; arm64) triple=aarch64-unknown-linux-gnu ;; \
      *) echo "unsupported TARGETARCH $arch (amd64 or arm64)" >&2; exit 1 ;; esac \
 && host=$(rustc -vV | sed -n 's/^host: //p') \
 && if [ "$host" != "$triple" ]; then \
      echo "TARGETARCH $arch needs a $triple toolchain, this stage has $host: build on a $arch builder" >&2; exit 1; fi \
 && echo "$triple" > /rust-triple

# 1. Dependencies only: the real manifests of the workspace with dummy sources, so this (slow)
#    layer is reused until a Cargo.toml or Cargo.lock changes. The operator links only
#    crates/clerk-model; the other members (fake-clerk, test-kit) are here for cargo to read
#    the workspace and are never built.
COPY Cargo.toml Cargo.lock ./
COPY crates/clerk-model/Cargo.toml crates/clerk-model/
COPY crates/fake-clerk/Cargo.toml crates/fake-clerk/
COPY crates/test-kit/Cargo.toml crates/test-kit/
RUN mkdir -p src crates/clerk-model/src crates/fake-clerk/src crates/test-kit/src \
 && echo 'fn main() {}' > src/main.rs \
 && echo 'fn main() {}' > crates/fake-clerk/src/main.rs \
 && touch src/lib.rs crates/clerk-model/src/lib.rs crates/fake-clerk/src/lib.rs crates/test-kit/src/lib.rs \
 && cargo build --locked --release -p clerk-operator --bin clerk-operator \
 && rm -rf src crates/clerk-model/src target/release/clerk-operator* \
      target/release/deps/clerk_operator-* target/release/deps/libclerk_operator-* \
      target/release/.fingerprint/clerk-operator-* \
      target/release/deps/clerk_model-* target/release/deps/libclerk_model-* \
      target/release/.fingerprint/clerk-model-*

# 2. The operator itself (and the wire model it shares with the fake).
COPY src ./src
COPY crates/clerk-model/src ./crates/clerk-model/src
RUN touch src/main.rs src/lib.rs crates/clerk-model/src/lib.rs \
 && cargo build --locked --release -p clerk-operator --bin clerk-operator \
 && machine=$(od -An -j18 -N2 -tu2 target/release/clerk-operator | tr -d ' ') \
 && case "$(cat /rust-triple)/$machine" in x86_64-*/62|aarch64-*/183) ;; \
      *) echo "the binary's ELF machine is $machine, not $(cat /rust-triple)" >&2; exit 1 ;; esac \
 && install -D -m 0755 target/release/clerk-operator /out/clerk-operator

FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=""
LABEL org.opencontainers.image.title="clerk-operator" \
      org.opencontainers.image.description="Kubernetes operator that makes Clerk domains declarative" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot" \
      org.opencontainers.image.base.digest="sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f"
COPY --from=builder /out/clerk-operator /clerk-operator
USER 65532:65532
# /metrics, /healthz, /readyz
EXPOSE 8080
ENTRYPOINT ["/clerk-operator"]
CMD ["run"]
