# clerk-operator: `make demo` shows the operator at work, `make test` runs the whole suite.
# Both build what they need (Rust crates from crates.io, control plane binaries from Go modules).
SHELL := /bin/bash
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: all build release tools bin-dir crds crd-check fmt fmt-check clippy unit e2e test demo help

all: build

help:
	@echo "make demo     - local control plane + fake Clerk + operator + sample ClerkDomain"
	@echo "make test     - fmt, clippy, CRD drift check, unit and integration tests"
	@echo "make release  - optimised binaries in target/release"
	@echo "make crds     - regenerate crds/ from the Rust types"
	@echo "make tools    - build etcd, kube-apiserver, kube-controller-manager, kubectl, helm"

build:
	$(CARGO) build --locked --bins

release:
	$(CARGO) build --locked --release --bins

# Control plane binaries, built from Go modules into ~/.cache/clerk-operator (or KUBEBUILDER_ASSETS).
tools:
	@bash hack/envtest.sh >/dev/null

crds:
	$(CARGO) run --locked -q --bin clerk-operator -- crd > crds/clerkdomain.yaml

crd-check:
	@$(CARGO) run --locked -q --bin clerk-operator -- crd | diff -u crds/clerkdomain.yaml - \
	  || { echo "crds/ is stale: run 'make crds' and commit the result" >&2; exit 1; }
	@echo "crd-check: crds/clerkdomain.yaml is up to date"

fmt:
	$(CARGO) fmt

fmt-check:
	$(CARGO) fmt --check

clippy:
	$(CARGO) clippy --locked --all-targets -- -D warnings

unit:
	$(CARGO) test --locked --lib --bins

e2e: tools
	CLERK_OPERATOR_BIN_DIR="$$(bash hack/envtest.sh | tail -n1)" $(CARGO) test --locked --test e2e

# Clerk's official Python SDK (clerk-backend-api) against fake-clerk; venv in ~/.cache/clerk-operator.
sdk-test:
	bash hack/pysdk.sh

# The Clerk client and fake-clerk through Prism, validating against Clerk's OpenAPI spec.
contract:
	PRISM_BIN="$$(bash hack/prism.sh | tail -n1)" $(CARGO) test --locked --test contract

test: fmt-check clippy crd-check unit sdk-test contract e2e

demo: tools
	bash hack/demo.sh $(DEMO_ARGS)
