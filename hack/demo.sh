#!/usr/bin/env bash
# make demo: a local control plane, the fake Clerk, the operator and the sample ClerkDomains.
#   hack/demo.sh          run, print the result, tear everything down
#   hack/demo.sh --keep   leave it running and print the KUBECONFIG to use (Ctrl-C stops it)
set -euo pipefail
cd "$(dirname "$0")/.."
KEEP=false
[[ "${1:-}" == "--keep" ]] && KEEP=true

show_fake_domains() {
  curl -s -H "Authorization: Bearer $DEMO_KEY" "http://127.0.0.1:$FAKE_PORT/v1/domains" | python3 -c '
import json, sys
for d in json.load(sys.stdin)["data"]:
    print("  %s  %-24s satellite=%s proxy_url=%s" % (d["id"], d["name"], d["is_satellite"], d.get("proxy_url")))'
}
say() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }

say "Building the operator, the fake Clerk and the local control plane launcher (cargo)"
cargo build --locked --bins --example local-cluster
BIN_DIR=$(bash hack/envtest.sh | tail -n1)
KUBECTL="$BIN_DIR/kubectl"

WORK=$(mktemp -d -t clerk-demo-XXXXXX)
export KUBECONFIG="$WORK/kubeconfig"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

say "Starting etcd + kube-apiserver + kube-controller-manager on loopback"
target/debug/examples/local-cluster "$KUBECONFIG" >"$WORK/cluster.out" 2>"$WORK/cluster.log" &
PIDS+=($!)
for _ in $(seq 1 600); do grep -q '^ready' "$WORK/cluster.out" 2>/dev/null && break; sleep 0.2; done
grep -q '^ready' "$WORK/cluster.out" || { cat "$WORK/cluster.log" >&2; exit 1; }
echo "API server: $(cut -d' ' -f2 "$WORK/cluster.out")"

FAKE_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DEMO_KEY="sk_live_demo_$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
say "Starting the fake Clerk on 127.0.0.1:$FAKE_PORT (a production instance)"
target/debug/fake-clerk --listen "127.0.0.1:$FAKE_PORT" --secret-key "$DEMO_KEY" >"$WORK/fake.out" 2>"$WORK/fake.log" &
PIDS+=($!)
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$FAKE_PORT/__fake/healthz" >/dev/null && break; sleep 0.1; done

say "Installing external-dns's DNSEndpoint CRD (the operator publishes CNAMEs through it)"
"$KUBECTL" apply -f tests/fixtures/externaldns-crd.yaml

say "Creating namespace web and Secret web/clerk with the Clerk secret key"
"$KUBECTL" create namespace web
"$KUBECTL" -n web create secret generic clerk --from-literal=CLERK_SECRET_KEY="$DEMO_KEY" >/dev/null
echo "secret/clerk created"

say "Starting clerk-operator"
CLERK_API_URL="http://127.0.0.1:$FAKE_PORT/v1" RESYNC_PERIOD=1m \
  target/debug/clerk-operator run --kubeconfig "$KUBECONFIG" --metrics-addr 127.0.0.1:0 \
    --dns-verify --dns-resolver 127.0.0.1:$((FAKE_PORT + 1)) >"$WORK/operator.log" 2>&1 &
PIDS+=($!)

say "kubectl apply -f examples/clerkdomain.yaml"
"$KUBECTL" apply -f examples/clerkdomain.yaml
"$KUBECTL" -n web wait --for=condition=Ready --timeout=60s cdom/marketing cdom/shop

say "kubectl get clerkdomains -A"
"$KUBECTL" get clerkdomains -A -o wide

say "kubectl -n web get cdom marketing -o yaml (status)"
"$KUBECTL" -n web get cdom marketing -o jsonpath='{.status}' | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin), indent=2))'

say "The DNSEndpoint the operator owns for marketing (external-dns publishes it)"
"$KUBECTL" -n web get dnsendpoints marketing -o jsonpath='{range .spec.endpoints[*]}{.dnsName}{" CNAME "}{.targets[0]}{"\n"}{end}'
say "Conditions: DNSVerified stays False until those records resolve (no DNS server here)"
"$KUBECTL" -n web get cdom marketing -o jsonpath='{range .status.conditions[*]}{.type}{"="}{.status}{" ("}{.reason}{"): "}{.message}{"\n"}{end}'

say "Events"
"$KUBECTL" -n web get events.events.k8s.io -o custom-columns=TYPE:.type,REASON:.reason,OBJECT:.regarding.name,NOTE:.note

say "Domains in the fake Clerk"
show_fake_domains

if $KEEP; then
  say "Still running. In another shell:"
  echo "  export KUBECONFIG=$KUBECONFIG"
  echo "  $KUBECTL get cdom -A"
  echo "Operator log: $WORK/operator.log. Press Ctrl-C to stop."
  trap 'cleanup; exit 0' INT TERM
  while true; do sleep 3600; done
fi

say "Deleting the ClerkDomains (the satellite is deleted from Clerk, the Orphan one is kept)"
"$KUBECTL" delete -f examples/clerkdomain.yaml --timeout=60s
show_fake_domains
say "Demo finished; tearing down"
