# clerk-operator: `make demo` shows the operator at work, `make test` runs the whole suite.
# Both build what they need (Rust crates from crates.io, control plane binaries from Go modules).
SHELL := /bin/bash
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: all build release tools dns-tools bin-dir crds crd-check fmt fmt-check clippy unit e2e test demo help chart-crds chart-check \
  health-tools health-check argocd-cm

all: build

help:
	@echo "make demo     - local control plane + fake Clerk + operator + sample ClerkDomain"
	@echo "make test     - fmt, clippy, CRD drift check, unit and integration tests"
	@echo "make release  - optimised binaries in target/release"
	@echo "make crds     - regenerate crds/ from the Rust types"
	@echo "make tools    - build etcd, kube-apiserver, kube-controller-manager, kubectl, helm"
	@echo "make health-check - the Argo CD Lua health check and kstatus verdicts on deploy/argocd testdata"
	@echo "make argocd-cm - regenerate deploy/argocd/argocd-cm-patch.yaml from health.lua"
	@echo "make dns-tools - build external-dns, unpack BIND 9 (DNS e2e and demo)"
	@echo "make image    - build the image from the Dockerfile with buildah (archive in ~/.cache/clerk-operator/images)"
	@echo "make e2e-node - the Helm chart as real Pods on a real single-node cluster (kubelet, containerd)"

build:
	$(CARGO) build --locked --workspace --bins

release:
	$(CARGO) build --locked --release --workspace --bins

# Control plane binaries, built from Go modules into ~/.cache/clerk-operator (or KUBEBUILDER_ASSETS).
tools:
	@bash hack/envtest.sh >/dev/null

# The real DNS chain for the e2e test and the demo: external-dns built from its Go module (its own
# tools module, Go 1.27 via GOTOOLCHAIN) and BIND 9 unpacked from Debian's packages, both cached in
# ~/.cache/clerk-operator. Neither is installed on the system; nothing listens on port 53.
dns-tools:
	@bash hack/external-dns.sh >/dev/null
	@bash hack/bind.sh >/dev/null

# One file per CRD, named as `clerk-operator crd KIND` takes it.
CRD_KINDS := clerkdomain clerkinstance clusterclerkinstance

crds:
	@for k in $(CRD_KINDS); do \
	  $(CARGO) run --locked -q --bin clerk-operator -- crd $$k > crds/$$k.yaml || exit 1; \
	  cp crds/$$k.yaml deploy/helm/clerk-operator/files/$$k.yaml; \
	done

crd-check:
	@for k in $(CRD_KINDS); do \
	  $(CARGO) run --locked -q --bin clerk-operator -- crd $$k | diff -u crds/$$k.yaml - \
	    || { echo "crds/$$k.yaml is stale: run 'make crds' and commit the result" >&2; exit 1; }; \
	done
	@echo "crd-check: crds/ is up to date"

# Helm chart: deploy/helm/clerk-operator. Its CRDs (files/*.yaml) are copies of crds/.
CHART := deploy/helm/clerk-operator
# Value combinations rendered by chart-check (one per word; commas separate --set values).
CHART_VALUES := \
  installCRDs=true \
  watchNamespace=apps,installCRDs=false \
  existingSecret=clerk,existingSecretKey=key \
  secretKey=sk_test_chart_check,replicaCount=2 \
  leaderElection.enabled=false \
  secretKey=sk_test_chart_check,defaultKeyNamespaces[0]=apps,defaultKeyNamespaces[1]=web \
  serviceMonitor.enabled=true,networkPolicy.enabled=true,networkPolicy.egress[0].ports[0].port=443 \
  existingSecret=clerk,clusterInstance.create=true,clusterInstance.namespaceSelector.matchLabels.team=web \
  installCRDs=false,watchNamespace=team-a,existingSecret=clerk \
  image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef,replicaCount=2,podDisruptionBudget.unhealthyPodEvictionPolicy=AlwaysAllow \
  podSecurityContext.runAsUser=null,podSecurityContext.runAsGroup=null,podSecurityContext.fsGroup=null,securityContext.runAsUser=null \
  serviceMonitor.enabled=true,serviceMonitor.force=true \
  extraVolumes[0].name=ca,extraVolumes[0].configMap.name=ca,extraVolumeMounts[0].name=ca,extraVolumeMounts[0].mountPath=/etc/ca,extraEnv[0].name=SSL_CERT_FILE,extraEnv[0].value=/etc/ca/ca.crt
# A `*` as a list item of apiGroups/resources/verbs in rendered RBAC.
RBAC_WILDCARD := (^|[[,])[[:space:]]*(-[[:space:]]*)?["'"'"']?\*["'"'"']?[[:space:]]*([],]|$$)

chart-crds:
	@for k in $(CRD_KINDS); do cp crds/$$k.yaml $(CHART)/files/$$k.yaml; done

chart-check:
	@set -euo pipefail; \
	helm="$$(bash hack/envtest.sh | tail -n1)/helm"; \
	out=$$(mktemp -d); trap 'rm -rf "$$out"' EXIT; \
	for k in $(CRD_KINDS); do \
	  diff -u crds/$$k.yaml $(CHART)/files/$$k.yaml >&2 \
	    || { echo "chart-check: $(CHART)/files/$$k.yaml differs from crds/: run 'make chart-crds'" >&2; exit 1; }; \
	done; \
	for v in $(CHART_VALUES); do \
	  echo "chart-check: --set $$v"; \
	  "$$helm" lint --strict --quiet $(CHART) --namespace clerk-system --set "$$v" >"$$out/lint" 2>&1 \
	    || { cat "$$out/lint" >&2; exit 1; }; \
	  "$$helm" template chart-check $(CHART) --namespace clerk-system --set "$$v" >"$$out/all.yaml"; \
	  "$$helm" template chart-check $(CHART) --namespace clerk-system --set "$$v" \
	    --show-only templates/rbac.yaml >"$$out/rbac.yaml"; \
	  if grep -nE '$(RBAC_WILDCARD)' "$$out/rbac.yaml" >&2; then \
	    echo "chart-check: wildcard in rendered RBAC (--set $$v)" >&2; exit 1; fi; \
	  grep -q '^kind: Deployment$$' "$$out/all.yaml" || { echo "chart-check: no Deployment (--set $$v)" >&2; exit 1; }; \
	  if grep -q 'value: "false"' <(grep -A1 'name: LEADER_ELECT' "$$out/all.yaml") \
	    && ! grep -q 'type: Recreate' "$$out/all.yaml"; then \
	    echo "chart-check: no leader election and no Recreate strategy: a rollout runs two writers (--set $$v)" >&2; exit 1; fi; \
	  if [[ "$$v" == *installCRDs=false* ]]; then \
	    ! grep -q '^kind: CustomResourceDefinition$$' "$$out/all.yaml" \
	      || { echo "chart-check: CRD rendered with installCRDs=false" >&2; exit 1; }; \
	  else \
	    grep -q 'helm.sh/resource-policy: keep' "$$out/all.yaml" \
	      || { echo "chart-check: CRD missing or not kept on uninstall (--set $$v)" >&2; exit 1; }; \
	  fi; \
	done; \
	for bad in logFormat=xml replicaCount=-1 existingSecret=a,secretKey=sk_test_x unknownValue=1 \
	  watchNamespace=apps,existingSecret=a,clusterInstance.create=true clusterInstance.create=true \
	  image.digest=latest podDisruptionBudget.unhealthyPodEvictionPolicy=Never \
	  topologySpreadConstraints[0].maxSkew=1 extraVolumeMounts[0].name=x podSecurityContext.runAsUser=-1; do \
	  if "$$helm" template chart-check $(CHART) --set "$$bad" >/dev/null 2>&1; then \
	    echo "chart-check: invalid values accepted: --set $$bad" >&2; exit 1; fi; \
	done; \
	bash hack/chart-modes.sh "$$helm"; \
	echo "chart-check: lint, templates, RBAC and CRD are fine"

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all --check

clippy:
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

unit:
	$(CARGO) test --locked --workspace --lib --bins

e2e: tools health-tools dns-tools
	CLERK_OPERATOR_BIN_DIR="$$(bash hack/envtest.sh | tail -n1)" \
	CLERK_OPERATOR_HEALTH_BIN_DIR="$$(bash hack/health.sh | tail -n1)" \
	CLERK_OPERATOR_EXTERNAL_DNS_DIR="$$(bash hack/external-dns.sh | tail -n1)" \
	CLERK_OPERATOR_BIND_DIR="$$(bash hack/bind.sh | tail -n1)" \
	  $(CARGO) test --locked --test e2e

# Clerk's official Python SDK (clerk-backend-api) against fake-clerk; venv in ~/.cache/clerk-operator.
sdk-test:
	bash hack/pysdk.sh

# The Clerk client and fake-clerk through Prism, validating against Clerk's OpenAPI spec.
contract:
	PRISM_BIN="$$(bash hack/prism.sh | tail -n1)" $(CARGO) test --locked --test contract

# Benchmarks (examples/bench/): real control plane, fake-clerk and the operator as processes.
# `make bench` (release; BENCH_SCALE=10000 adds the 10,000-object memory run) writes BENCHMARKS.md;
# `make bench-smoke` (50 objects, 10 trials) only checks that it runs and everything gets Ready.
# Scenario 6 runs hack/bench/clerk_sync.py with the venv of hack/pysdk.sh; `make bench
# BENCH_ONLY=peer` runs only it and prints it (writes nothing); `BENCH_ONLY=scale` likewise runs only
# scenario 4 (at BENCH_SCALE, e.g. `make bench BENCH_ONLY=scale BENCH_SCALE=10000`), and
# `BENCH_ONLY=throttled` only run 2.
.PHONY: bench bench-smoke
bench: tools release
	CLERK_OPERATOR_BIN_DIR="$$(bash hack/envtest.sh | tail -n1)" \
	BENCH_PYTHON="$$(bash hack/pysdk.sh --print-python | tail -n1)" \
	BENCH_COMMAND="make bench$${BENCH_SCALE:+ BENCH_SCALE=$$BENCH_SCALE}" \
	  $(CARGO) run --locked --release --example bench -- $(if $(filter peer scale throttled,$(BENCH_ONLY)),,--out BENCHMARKS.md)

bench-smoke: tools build
	CLERK_OPERATOR_BIN_DIR="$$(bash hack/envtest.sh | tail -n1)" \
	BENCH_PYTHON="$$(bash hack/pysdk.sh --print-python | tail -n1)" \
	  $(CARGO) run --locked --example bench -- --smoke

# Chaos soak (tests/chaos): seeded workload, Clerk faults, operator SIGKILLs, an apiserver restart.
# `make chaos` runs 200 objects with 3 seeds (CHAOS_SEEDS/CHAOS_OBJECTS override); `chaos-smoke`
# runs 30 objects with the fixed seed CHAOS_SMOKE_SEED inside `make test` (issue #13: the same
# workload every time; the seed is printed). `CHAOS_SEEDS=` (empty) picks a random seed.
CHAOS_SEEDS ?= 11,22,33
CHAOS_SMOKE_SEED ?= 4242
CHAOS_OBJECTS ?= 200
.PHONY: chaos chaos-smoke
chaos: tools
	CLERK_OPERATOR_BIN_DIR="$$(bash hack/envtest.sh | tail -n1)" CHAOS_SEEDS="$(CHAOS_SEEDS)" \
	  CHAOS_OBJECTS="$(CHAOS_OBJECTS)" $(CARGO) test --locked --test chaos -- --nocapture

chaos-smoke: tools
	CLERK_OPERATOR_BIN_DIR="$$(bash hack/envtest.sh | tail -n1)" CHAOS_SEEDS="$(CHAOS_SMOKE_SEED)" CHAOS_OBJECTS=30 \
	  $(CARGO) test --locked --test chaos -- --nocapture

# The image from the repository's Dockerfile, verbatim, with buildah (chroot isolation, storage in
# ~/.cache/clerk-operator/containers, local stand-ins for the two base images tagged with their
# upstream names, --pull=never); exported as docker-archive and oci-archive.
.PHONY: image e2e-node
image:
	@bash hack/image.sh build
	@bash hack/image.sh inspect

# The chart's Pods on a real node: kubelet, kube-scheduler, kube-proxy (hack/tools), containerd,
# runc, CNI (hack/node-tools), the pause image, all inside namespaces the test creates.
e2e-node:
	bash hack/e2e-node.sh


# GitOps health (issue #12): deploy/argocd holds the Argo CD health check in Argo CD's own
# resource_customizations layout. hack/health.sh builds kstatus (cli-utils' status.Compute, what
# Flux uses) and argolua (gopher-lua set up as Argo CD does) into ~/.cache/clerk-operator/health.
ARGOCD_DIR := deploy/argocd/clerk-operator.io/ClerkDomain
ARGOCD_CM := deploy/argocd/argocd-cm-patch.yaml
ARGOCD_CM_KEY := resource.customizations.health.clerk-operator.io_ClerkDomain

health-tools:
	@bash hack/health.sh >/dev/null

# The argocd-cm patch: the key with health.lua as a literal block (empty lines stay empty).
define argocd_cm
	{ echo '# Generated by `make argocd-cm` from $(ARGOCD_DIR)/health.lua. Do not edit by hand.'; \
	  echo '# The Argo CD health check for ClerkDomain; apply it to the argocd-cm of your Argo CD:'; \
	  echo '#   kubectl -n argocd patch configmap argocd-cm --type merge --patch-file $(ARGOCD_CM)'; \
	  echo '# or list it under `patches:` of the kustomization that installs Argo CD.'; \
	  echo 'apiVersion: v1'; echo 'kind: ConfigMap'; echo 'metadata:'; echo '  name: argocd-cm'; \
	  echo '  labels:'; echo '    app.kubernetes.io/name: argocd-cm'; echo '    app.kubernetes.io/part-of: argocd'; \
	  echo 'data:'; echo '  $(ARGOCD_CM_KEY): |'; \
	  sed -E 's/^(.)/    \1/' $(ARGOCD_DIR)/health.lua; }
endef

argocd-cm:
	@$(argocd_cm) > $(ARGOCD_CM)
	@echo "argocd-cm: wrote $(ARGOCD_CM)"

# Go tests of the helpers, health_test.yaml with argolua (with and without Lua's standard
# libraries), kstatus_test.yaml with kstatus (every testdata object must be in both tables), and
# the argocd-cm patch: as `make argocd-cm` writes it, and its Lua parsed back equal to health.lua;
# then tests/health.rs runs the Rust helper of the e2e tests (test_kit::health) on them.
health-check:
	@set -euo pipefail; \
	bin="$$(bash hack/health.sh | tail -n1)"; \
	echo "health-check: go vet and go test in hack/health"; \
	test -z "$$(gofmt -l hack/health)" || { gofmt -l hack/health >&2; echo "health-check: gofmt hack/health" >&2; exit 1; }; \
	(cd hack/health && GOFLAGS=-mod=readonly go vet ./... && GOFLAGS=-mod=readonly go test ./...); \
	echo "health-check: Argo CD Lua health check ($(ARGOCD_DIR)/health_test.yaml)"; \
	"$$bin/argolua" test deploy/argocd; \
	echo "health-check: kstatus ($(ARGOCD_DIR)/kstatus_test.yaml)"; \
	"$$bin/kstatus" test $(ARGOCD_DIR)/kstatus_test.yaml; \
	$(argocd_cm) | diff -u $(ARGOCD_CM) - >&2 \
	  || { echo "health-check: $(ARGOCD_CM) is stale: run 'make argocd-cm' and commit the result" >&2; exit 1; }; \
	"$$bin/argolua" cm-check $(ARGOCD_CM) $(ARGOCD_CM_KEY) $(ARGOCD_DIR)/health.lua; \
	echo "health-check: the e2e helper test_kit::health on the same tables"; \
	CLERK_OPERATOR_HEALTH_BIN_DIR="$$bin" $(CARGO) test --locked --test health

test: fmt-check clippy crd-check chart-check health-check unit sdk-test contract e2e chaos-smoke bench-smoke e2e-node

demo: tools dns-tools
	bash hack/demo.sh $(DEMO_ARGS)
