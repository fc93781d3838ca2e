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
	@echo "make dns-tools - build external-dns, unpack BIND 9 and nginx (DNS and proxy e2e, demo)"
	@echo "make image    - build the image from the Dockerfile with buildah (archive in ~/.cache/clerk-operator/images)"
	@echo "make e2e-node - the Helm chart as real Pods on a real single-node cluster (kubelet, containerd)"
	@echo "make docs     - build the documentation site into site/ (mkdocs build --strict)"
	@echo "make docs-gen - regenerate docs/reference/ from crds/, the chart and the CLI's help"
	@echo "make docs-check - fail when docs/reference/ is stale"
	@echo "make docs-screenshots - screenshots of the built site with headless Chromium"
	@echo "make text-check - fail on development-process text in tracked files"
	@echo "make alerts-check - promtool check and unit tests of the chart's Prometheus alerts"
	@echo "make dashboard-check - the Grafana dashboard's JSON and the metric names of dashboard and alerts"
	@echo "make release-check - actionlint on the workflows, the chart packaged as a release, the SBOM"

build:
	$(CARGO) build --locked --workspace --bins

release:
	$(CARGO) build --locked --release --workspace --bins

# Control plane binaries, built from Go modules into ~/.cache/clerk-operator (or KUBEBUILDER_ASSETS).
tools:
	@bash hack/envtest.sh >/dev/null

# The real DNS chain for the e2e test and the demo: external-dns built from its Go module (its own
# tools module, Go 1.27 via GOTOOLCHAIN) and BIND 9 unpacked from Debian's packages, both cached in
# ~/.cache/clerk-operator. Neither is installed on the system; nothing listens on port 53. nginx,
# the real reverse proxy of the proxy-health test, is unpacked from Debian's packages the same way.
dns-tools:
	@bash hack/external-dns.sh >/dev/null
	@bash hack/bind.sh >/dev/null
	@bash hack/nginx.sh >/dev/null

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
  serviceMonitor.enabled=true,prometheusRule.enabled=true,grafanaDashboard.enabled=true,grafanaDashboard.namespace=monitoring \
  installCRDs=false,watchNamespace=team-a,existingSecret=clerk \
  secretProtection.enabled=true,secretCacheTTL=30s \
  rbac.secretNames[0]=clerk,watchNamespace=apps,installCRDs=false \
  secretProtection.enabled=true,watchNamespace=apps,installCRDs=false \
  metrics.secure=false,serviceMonitor.enabled=true,serviceMonitor.force=true \
  metrics.certSecret=operator-metrics-tls,serviceMonitor.enabled=true,serviceMonitor.force=true,serviceMonitor.tlsConfig.serverName=clerk-operator-metrics \
  image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef,replicaCount=2,podDisruptionBudget.unhealthyPodEvictionPolicy=AlwaysAllow \
  podSecurityContext.runAsUser=null,podSecurityContext.runAsGroup=null,podSecurityContext.fsGroup=null,securityContext.runAsUser=null \
  serviceMonitor.enabled=true,serviceMonitor.force=true \
  extraVolumes[0].name=ca,extraVolumes[0].configMap.name=ca,extraVolumeMounts[0].name=ca,extraVolumeMounts[0].mountPath=/etc/ca,extraEnv[0].name=SSL_CERT_FILE,extraEnv[0].value=/etc/ca/ca.crt \
  frontendApiCheck.enabled=true,extraCA.configMap=corp-ca \
  extraCA.secret=corp-ca,extraCA.key=bundle.pem,extraVolumes[0].name=ca,extraVolumes[0].emptyDir.medium=Memory,extraVolumeMounts[0].name=ca,extraVolumeMounts[0].mountPath=/etc/ca
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
	  prometheusRule.disabledAlerts[0]=NoSuchAlert prometheusRule.unknownValue=1 grafanaDashboard.label= \
	  image.digest=latest podDisruptionBudget.unhealthyPodEvictionPolicy=Never \
	  topologySpreadConstraints[0].maxSkew=1 extraVolumeMounts[0].name=x podSecurityContext.runAsUser=-1 \
  rbac.secretNames[0]=Not_A_Name metrics.certSecret=Bad_Name; do \
	  if "$$helm" template chart-check $(CHART) --set "$$bad" >/dev/null 2>&1; then \
	    echo "chart-check: invalid values accepted: --set $$bad" >&2; exit 1; fi; \
	done; \
	bash hack/chart-modes.sh "$$helm"; \
	echo "chart-check: lint, templates, RBAC and CRD are fine"

# The shape of the code: no import cycle between the modules of any crate
# (hack/check-modules.py), no Rust file over 400 lines in src/, crates/, tests/ or examples/
# (functions over 60 lines are refused by clippy: too_many_lines, clippy.toml).
CRATE_ROOTS := src/lib.rs src/main.rs crates/clerk-model/src/lib.rs crates/fake-clerk/src/lib.rs \
  crates/fake-clerk/src/main.rs crates/test-kit/src/lib.rs
MAX_FILE_LINES := 400
# Where no Rust file may be longer: the code, its tests and its examples.
SHAPED_DIRS := src crates tests examples
.PHONY: shape-check
shape-check:
	@python3 hack/check-modules.py $(CRATE_ROOTS)
	@long=$$(find $(SHAPED_DIRS) -name '*.rs' -exec wc -l {} + | awk '$$2 != "total" && $$1 > $(MAX_FILE_LINES)'); \
	if [ -n "$$long" ]; then echo "shape-check: files over $(MAX_FILE_LINES) lines:" >&2; echo "$$long" >&2; exit 1; fi; \
	echo "shape-check: no Rust file in $(SHAPED_DIRS) over $(MAX_FILE_LINES) lines"

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
	CLERK_OPERATOR_NGINX_DIR="$$(bash hack/nginx.sh | tail -n1)" \
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
# `BENCH_ONLY=throttled` only run 2, `BENCH_ONLY=fast` only run 1b.
.PHONY: bench bench-smoke
bench: tools release
	CLERK_OPERATOR_BIN_DIR="$$(bash hack/envtest.sh | tail -n1)" \
	BENCH_PYTHON="$$(bash hack/pysdk.sh --print-python | tail -n1)" \
	BENCH_COMMAND="make bench$${BENCH_SCALE:+ BENCH_SCALE=$$BENCH_SCALE}" \
	  $(CARGO) run --locked --release --example bench -- $(if $(filter peer scale throttled fast,$(BENCH_ONLY)),,--out BENCHMARKS.md)

bench-smoke: tools build
	CLERK_OPERATOR_BIN_DIR="$$(bash hack/envtest.sh | tail -n1)" \
	BENCH_PYTHON="$$(bash hack/pysdk.sh --print-python | tail -n1)" \
	  $(CARGO) run --locked --example bench -- --smoke

# Chaos soak (tests/chaos): seeded workload, Clerk faults, operator SIGKILLs, an apiserver restart.
# `make chaos` runs 200 objects with 3 seeds (CHAOS_SEEDS/CHAOS_OBJECTS override); `chaos-smoke`
# runs 30 objects with the fixed seed CHAOS_SMOKE_SEED inside `make test` (the same workload
# every time; the seed is printed). `CHAOS_SEEDS=` (empty) picks a random seed.
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
	@bash hack/image.sh check
	@bash hack/image.sh inspect

# The chart's Pods on a real node: kubelet, kube-scheduler, kube-proxy (hack/tools), containerd,
# runc, CNI (hack/node-tools), the pause image, all inside namespaces the test creates.
e2e-node:
	bash hack/e2e-node.sh


# GitOps health: deploy/argocd holds the Argo CD health checks of ClerkDomain, ClerkInstance and
# ClusterClerkInstance in Argo CD's own resource_customizations layout (one directory per kind:
# health.lua, health_test.yaml, kstatus_test.yaml, testdata/). hack/health.sh builds kstatus
# (cli-utils' status.Compute, what Flux uses) and argolua (gopher-lua set up as Argo CD does)
# into ~/.cache/clerk-operator/health.
ARGOCD_ROOT := deploy/argocd/clerk-operator.io
ARGOCD_KINDS := ClerkDomain ClerkInstance ClusterClerkInstance
ARGOCD_DIR := $(ARGOCD_ROOT)/ClerkDomain
ARGOCD_CM := deploy/argocd/argocd-cm-patch.yaml
ARGOCD_CM_KEY_PREFIX := resource.customizations.health.clerk-operator.io_

health-tools:
	@bash hack/health.sh >/dev/null

# The argocd-cm patch: one key per kind with its health.lua as a literal block (empty lines stay
# empty).
define argocd_cm
	{ echo '# Generated by `make argocd-cm` from $(ARGOCD_ROOT)/*/health.lua. Do not edit by hand.'; \
	  echo '# The Argo CD health checks for $(ARGOCD_KINDS); apply them to the argocd-cm of your Argo CD:'; \
	  echo '#   kubectl -n argocd patch configmap argocd-cm --type merge --patch-file $(ARGOCD_CM)'; \
	  echo '# or list it under `patches:` of the kustomization that installs Argo CD.'; \
	  echo 'apiVersion: v1'; echo 'kind: ConfigMap'; echo 'metadata:'; echo '  name: argocd-cm'; \
	  echo '  labels:'; echo '    app.kubernetes.io/name: argocd-cm'; echo '    app.kubernetes.io/part-of: argocd'; \
	  echo 'data:'; \
	  for k in $(ARGOCD_KINDS); do \
	    echo "  $(ARGOCD_CM_KEY_PREFIX)$$k: |"; \
	    sed -E 's/^(.)/    \1/' $(ARGOCD_ROOT)/$$k/health.lua; \
	  done; }
endef

argocd-cm:
	@$(argocd_cm) > $(ARGOCD_CM)
	@echo "argocd-cm: wrote $(ARGOCD_CM)"

# Go tests of the helpers; every health_test.yaml with argolua (with and without Lua's standard
# libraries); each kind's kstatus_test.yaml with kstatus (every testdata object must be in both
# tables); ClerkInstance and ClusterClerkInstance share one script (their status is the same
# type); the argocd-cm patch: as `make argocd-cm` writes it, and each key's Lua parsed back equal
# to its health.lua; then tests/health.rs runs the Rust helper of the e2e tests
# (test_kit::health) on the ClerkDomain tables.
health-check:
	@set -euo pipefail; \
	bin="$$(bash hack/health.sh | tail -n1)"; \
	echo "health-check: go vet and go test in hack/health"; \
	test -z "$$(gofmt -l hack/health)" || { gofmt -l hack/health >&2; echo "health-check: gofmt hack/health" >&2; exit 1; }; \
	(cd hack/health && GOFLAGS=-mod=readonly go vet ./... && GOFLAGS=-mod=readonly go test ./...); \
	echo "health-check: Argo CD Lua health checks ($(ARGOCD_ROOT)/*/health_test.yaml)"; \
	"$$bin/argolua" test deploy/argocd; \
	for k in $(ARGOCD_KINDS); do \
	  echo "health-check: kstatus ($(ARGOCD_ROOT)/$$k/kstatus_test.yaml)"; \
	  "$$bin/kstatus" test $(ARGOCD_ROOT)/$$k/kstatus_test.yaml; \
	done; \
	cmp $(ARGOCD_ROOT)/ClerkInstance/health.lua $(ARGOCD_ROOT)/ClusterClerkInstance/health.lua \
	  || { echo "health-check: the ClerkInstance and ClusterClerkInstance health.lua differ" >&2; exit 1; }; \
	$(argocd_cm) | diff -u $(ARGOCD_CM) - >&2 \
	  || { echo "health-check: $(ARGOCD_CM) is stale: run 'make argocd-cm' and commit the result" >&2; exit 1; }; \
	for k in $(ARGOCD_KINDS); do \
	  "$$bin/argolua" cm-check $(ARGOCD_CM) $(ARGOCD_CM_KEY_PREFIX)$$k $(ARGOCD_ROOT)/$$k/health.lua; \
	done; \
	echo "health-check: the e2e helper test_kit::health on the same tables"; \
	CLERK_OPERATOR_HEALTH_BIN_DIR="$$bin" $(CARGO) test --locked --test health

# Monitoring: the Prometheus alerts and the Grafana dashboard the chart ships (files/alerts.yaml,
# files/dashboard.json). promtool comes from Debian's prometheus package (hack/promtool.sh).
# These targets and chart-package-check take helm from hack/envtest.sh, or HELM=PATH.
ALERTS := $(CHART)/files/alerts.yaml
ALERTS_TEST := deploy/monitoring/alerts_test.yaml
DASHBOARD := $(CHART)/files/dashboard.json
.PHONY: alerts-check dashboard-check

# promtool check and unit tests of the rule file; the same tests on the groups of the chart's
# rendered PrometheusRule; the chart's knobs (job, ruleLabels, disabledAlerts) in its output.
alerts-check:
	@set -euo pipefail; \
	promtool="$$(bash hack/promtool.sh | tail -n1)/promtool"; \
	helm="$${HELM:-$$(bash hack/envtest.sh | tail -n1)/helm}"; \
	out=$$(mktemp -d); trap 'rm -rf "$$out"' EXIT; \
	echo "alerts-check: promtool check rules $(ALERTS)"; \
	"$$promtool" check rules $(ALERTS); \
	echo "alerts-check: promtool test rules $(ALERTS_TEST)"; \
	"$$promtool" test rules $(ALERTS_TEST); \
	echo "alerts-check: the same tests on the chart's PrometheusRule"; \
	"$$helm" template alerts-check $(CHART) --namespace clerk-system --set prometheusRule.enabled=true \
	  --show-only templates/prometheusrule.yaml >"$$out/rule.yaml"; \
	grep -q '^kind: PrometheusRule$$' "$$out/rule.yaml"; \
	sed -n '/^spec:$$/,$$p' "$$out/rule.yaml" | sed '1d; s/^  //' >"$$out/rules.yaml"; \
	"$$promtool" check rules "$$out/rules.yaml"; \
	grep -qx '  - ../helm/clerk-operator/files/alerts.yaml' $(ALERTS_TEST); \
	sed 's|^  - ../helm/clerk-operator/files/alerts.yaml$$|  - rules.yaml|' $(ALERTS_TEST) >"$$out/test.yaml"; \
	"$$promtool" test rules "$$out/test.yaml"; \
	"$$helm" template alerts-check $(CHART) --namespace clerk-system --set prometheusRule.enabled=true \
	  --set prometheusRule.job=clerk,prometheusRule.ruleLabels.team=platform \
	  --set prometheusRule.disabledAlerts[0]=ClerkDomainDNSNotVerified \
	  --set prometheusRule.runbookBaseUrl=https://runbooks.example.com/clerk/ \
	  --show-only templates/prometheusrule.yaml >"$$out/custom.yaml"; \
	n=$$(grep -c '^ *- alert: ' $(ALERTS)); \
	test "$$(grep -c '^ *- alert: ' "$$out/custom.yaml")" = "$$((n - 1))" \
	  || { echo "alerts-check: disabledAlerts did not leave out exactly one alert" >&2; exit 1; }; \
	! grep -q 'ClerkDomainDNSNotVerified\|job="clerk-operator"\|github.com/clerk-operator' "$$out/custom.yaml" \
	  || { echo "alerts-check: prometheusRule values not applied" >&2; exit 1; }; \
	test "$$(grep -c 'team: platform' "$$out/custom.yaml")" = "$$((n - 1))" \
	  || { echo "alerts-check: ruleLabels not on every alert" >&2; exit 1; }; \
	grep -q 'runbook_url: https://runbooks.example.com/clerk/ClerkOperatorDown.md' "$$out/custom.yaml" \
	  || { echo "alerts-check: runbookBaseUrl not applied" >&2; exit 1; }; \
	for a in $$(sed -n 's/^ *- alert: //p' $(ALERTS)); do \
	  test -f docs/runbooks/$$a.md || { echo "alerts-check: no runbook docs/runbooks/$$a.md" >&2; exit 1; }; \
	  grep -q "runbooks/$$a.md" $(ALERTS) || { echo "alerts-check: $$a has no runbook_url to its page" >&2; exit 1; }; \
	  grep -q "($$a.md)" docs/runbooks/index.md || { echo "alerts-check: $$a missing from docs/runbooks/index.md" >&2; exit 1; }; \
	done; \
	python3 hack/monitoring-check.py --alerts $(ALERTS) --dashboard $(DASHBOARD); \
	echo "alerts-check: rules, unit tests, chart rendering and runbooks are fine"

# The dashboard's JSON, datasource variable, metric names and queries parsed by promtool
# (hack/monitoring-check.py, which also takes --scrape FILE of a real /metrics); the chart's
# ConfigMap holds the same JSON.
dashboard-check:
	@set -euo pipefail; \
	helm="$${HELM:-$$(bash hack/envtest.sh | tail -n1)/helm}"; \
	promtool="$$(bash hack/promtool.sh | tail -n1)/promtool"; \
	out=$$(mktemp -d); trap 'rm -rf "$$out"' EXIT; \
	python3 hack/monitoring-check.py --alerts $(ALERTS) --dashboard $(DASHBOARD) --promtool "$$promtool"; \
	"$$helm" template dashboard-check $(CHART) --namespace clerk-system --set grafanaDashboard.enabled=true \
	  --set grafanaDashboard.namespace=monitoring --show-only templates/grafana-dashboard.yaml >"$$out/cm.yaml"; \
	grep -q '^  namespace: monitoring$$' "$$out/cm.yaml" && grep -q '^    grafana_dashboard: "1"$$' "$$out/cm.yaml" \
	  || { echo "dashboard-check: ConfigMap namespace or sidecar label missing" >&2; exit 1; }; \
	sed -n '/^  clerk-operator.json: |-$$/,$$p' "$$out/cm.yaml" | sed '1d; s/^    //' >"$$out/dashboard.json"; \
	python3 -c 'import json,sys; a,b=(json.load(open(f)) for f in sys.argv[1:]); sys.exit(a!=b)' $(DASHBOARD) "$$out/dashboard.json" \
	  || { echo "dashboard-check: the ConfigMap's dashboard differs from $(DASHBOARD)" >&2; exit 1; }; \
	echo "dashboard-check: the dashboard and its ConfigMap are fine"

# Release: .github/workflows (actionlint), the chart packaged as the release workflow does
# (hack/chart-package.sh, version and appVersion from a pretend tag), and a CycloneDX SBOM of the
# Rust dependency tree holding every registry crate of Cargo.lock.
RELEASE_CHECK_TAG ?= v1.2.3
.PHONY: release-check workflow-check chart-package-check sbom-check

release-check: workflow-check chart-package-check sbom-check

workflow-check:
	@set -euo pipefail; \
	dir="$$(bash hack/actionlint.sh | tail -n1)"; \
	"$$dir/actionlint" -shellcheck "$$dir/shellcheck" -pyflakes= .github/workflows/*.yaml; \
	echo "workflow-check: actionlint found nothing in .github/workflows"

chart-package-check:
	@set -euo pipefail; \
	out=$$(mktemp -d); trap 'rm -rf "$$out"' EXIT; \
	tgz=$$(bash hack/chart-package.sh --version $(RELEASE_CHECK_TAG) --out "$$out" $${HELM:+--helm "$$HELM"} \
	  --image-repository ghcr.io/example/clerk-operator \
	  --runbook-base-url https://github.com/example/clerk-operator/blob/$(RELEASE_CHECK_TAG)/docs/runbooks \
	  --source-url https://github.com/example/clerk-operator | tail -n1); \
	python3 hack/release-check.py chart "$$tgz" $(RELEASE_CHECK_TAG) --image-repository ghcr.io/example/clerk-operator

sbom-check:
	@set -euo pipefail; \
	cyclonedx="$$(bash hack/cyclonedx.sh | tail -n1)/cargo-cyclonedx"; \
	out=$$(mktemp -d); trap 'rm -rf "$$out"' EXIT; \
	bash hack/sbom.sh "$$cyclonedx" "$$out" >/dev/null; \
	python3 hack/release-check.py sbom Cargo.lock "$$out"/*.cdx.json

test: fmt-check clippy shape-check crd-check docs-check text-check chart-check health-check alerts-check dashboard-check \
  release-check docs-screenshots unit sdk-test contract e2e chaos-smoke bench-smoke e2e-node

demo: tools dns-tools
	bash hack/demo.sh $(DEMO_ARGS)

# Documentation (docs/, mkdocs.yml). The MkDocs venv comes from hack/mkdocs.sh (pinned in
# hack/requirements-docs.txt, in ~/.cache/clerk-operator/mkdocs-venv).
# - docs-gen writes the generated reference pages (hack/docs/gen_reference.py): the CRD field
#   tables from crds/, the Helm values from the chart, the command line from the binary's --help;
# - docs-check regenerates them into a temporary directory and fails when the committed ones differ;
# - docs builds the site with `mkdocs build --strict` into site/: a broken link or anchor, or a
#   page missing from the nav, fails it;
# - docs-screenshots builds the site, serves it on 127.0.0.1 and takes PNG screenshots of the
#   landing page and a reference page with headless Chromium (hack/chromium.sh installs it) into
#   site-screenshots/, checked to be larger than 20 KB and not a single colour;
# - text-check fails on development-process text (diary words, issue numbers) in tracked files.
DOCS_GENERATED := clerkdomain-fields.md clerkdomain-status-fields.md instances-fields.md clusterclerkinstance-fields.md helm-values.md cli.md reasons.md reasons-checks.md
DOCS_VENV = $$(bash hack/mkdocs.sh | tail -n1)
.PHONY: docs docs-gen docs-check docs-screenshots text-check

docs-gen:
	@set -euo pipefail; venv="$(DOCS_VENV)"; \
	$(CARGO) build --locked -q --bin clerk-operator; \
	"$$venv/python" hack/docs/gen_reference.py --out docs/reference \
	  --bin "$${CARGO_TARGET_DIR:-target}/debug/clerk-operator"

docs-check:
	@set -euo pipefail; venv="$(DOCS_VENV)"; \
	out=$$(mktemp -d); trap 'rm -rf "$$out"' EXIT; \
	$(CARGO) build --locked -q --bin clerk-operator; \
	"$$venv/python" hack/docs/gen_reference.py --out "$$out" \
	  --bin "$${CARGO_TARGET_DIR:-target}/debug/clerk-operator" 2>/dev/null; \
	for f in $(DOCS_GENERATED); do \
	  diff -u docs/reference/$$f "$$out/$$f" >&2 \
	    || { echo "docs-check: docs/reference/$$f is stale: run 'make docs-gen' and commit the result" >&2; exit 1; }; \
	done; \
	echo "docs-check: the generated reference pages are up to date"; \
	words=$$(wc -w < README.md); [ "$$words" -le 1200 ] || { echo "docs-check: README.md has $$words words (at most 1200)" >&2; exit 1; }; \
	long=$$(for f in $$(git ls-files 'docs/*.md'); do n=$$(wc -w < "$$f"); [ "$$n" -le 2000 ] || echo "$$f: $$n words"; done); \
	[ -z "$$long" ] || { echo "docs-check: pages over 2000 words:" >&2; echo "$$long" >&2; exit 1; }; \
	echo "docs-check: README.md $$words words; every page under docs/ at most 2000 words"

docs:
	@set -euo pipefail; venv="$(DOCS_VENV)"; start=$$(date +%s); \
	NO_MKDOCS_2_WARNING=1 "$$venv/mkdocs" build --strict --quiet --site-dir site; \
	echo "docs: built site/ in $$(( $$(date +%s) - start ))s (open site/index.html)"

docs-screenshots: docs
	@PYTHON="$$(bash hack/mkdocs.sh | tail -n1)/python" bash hack/docs/screenshots.sh site site-screenshots

text-check:
	@bash hack/check-text.sh
