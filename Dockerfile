# syntax=docker/dockerfile:1
# clerk-operator image: docker build -t clerk-operator:0.1.0 .
# The result holds only the release binary on distroless (glibc, CA certificates,
# no shell), runs as UID 65532 and fits the Pod Security Standard "restricted".

ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${RUST_IMAGE} AS builder
WORKDIR /src

# 1. Dependencies only: the real manifests with dummy sources, so this (slow) layer is reused
#    until Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src/bin \
 && echo 'fn main() {}' > src/main.rs \
 && echo 'fn main() {}' > src/bin/fake-clerk.rs \
 && touch src/lib.rs \
 && cargo build --locked --release --bin clerk-operator \
 && rm -rf src target/release/clerk-operator* \
      target/release/deps/clerk_operator-* target/release/deps/libclerk_operator-* \
      target/release/.fingerprint/clerk-operator-*

# 2. The operator itself.
COPY src ./src
RUN touch src/main.rs src/lib.rs \
 && cargo build --locked --release --bin clerk-operator \
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
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"
COPY --from=builder /out/clerk-operator /clerk-operator
USER 65532:65532
# /metrics, /healthz, /readyz
EXPOSE 8080
ENTRYPOINT ["/clerk-operator"]
CMD ["run"]
