# syntax=docker/dockerfile:1
# clerk-operator image: docker build -t clerk-operator:0.1.0 .
# The result holds only the release binary on distroless (glibc, CA certificates,
# no shell), runs as UID 65532 and fits the Pod Security Standard "restricted".

ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${RUST_IMAGE} AS builder
WORKDIR /src

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
