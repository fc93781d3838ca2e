#!/usr/bin/env bash
# make demo: a local control plane, the fake Clerk, the operator and the sample ClerkDomains, with
# the real DNS chain: the operator's DNSEndpoint -> the real external-dns (rfc2136 provider) ->
# BIND 9 on a loopback port (TSIG updates) -> the operator's --dns-verify -> DNSVerified=True; then
# the Frontend API over the domain's own clerk. host (a fake one over TLS, its test CA given with
# --extra-ca-file, Clerk's target answered by BIND) -> FrontendAPIReachable=True; and the
# `clerk-operator status` table.
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
cargo build --locked --workspace --bins --example local-cluster --example fake-frontend-api
BIN_DIR=$(bash hack/envtest.sh | tail -n1)
KUBECTL="$BIN_DIR/kubectl"
say "external-dns (built from its Go module) and BIND 9 (unpacked from Debian's packages)"
EXTERNAL_DNS_DIR=$(bash hack/external-dns.sh | tail -n1)
BIND_DIR=$(bash hack/bind.sh | tail -n1)
"$EXTERNAL_DNS_DIR/external-dns" --version
"$BIND_DIR/named" -v
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# A port free for both UDP and TCP on 127.0.0.1 (named listens on both).
free_dns_port() {
  python3 -c '
import socket
while True:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0)); p = u.getsockname()[1]
    t = socket.socket()
    try:
        t.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass'
}

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

FAKE_PORT=$(free_port)
DEMO_KEY="sk_live_demo_$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
say "Starting the fake Clerk on 127.0.0.1:$FAKE_PORT (a production instance)"
target/debug/fake-clerk --listen "127.0.0.1:$FAKE_PORT" --secret-key "$DEMO_KEY" >"$WORK/fake.out" 2>"$WORK/fake.log" &
PIDS+=($!)
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$FAKE_PORT/__fake/healthz" >/dev/null && break; sleep 0.1; done

DNS_PORT=$(free_dns_port)
say "Starting BIND 9 on 127.0.0.1:$DNS_PORT, authoritative for example.com and clerk.services (TSIG-signed dynamic updates)"
bash hack/bind.sh serve "$WORK/bind" "$DNS_PORT" example.com clerk.services >"$WORK/named.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do
  "$BIND_DIR/dig" @127.0.0.1 -p "$DNS_PORT" +short +time=1 +tries=1 example.com SOA 2>/dev/null | grep -q . && break
  sleep 0.2
done
"$BIND_DIR/dig" @127.0.0.1 -p "$DNS_PORT" +short example.com SOA | grep -q . || { cat "$WORK/named.log" >&2; exit 1; }
echo "named is up (log: named.log)"

say "Starting a fake Clerk Frontend API over TLS for clerk.marketing.example.com (a test CA)"
target/debug/examples/fake-frontend-api "$WORK/frontend-api-ca.crt" clerk.marketing.example.com >"$WORK/fapi.out" 2>"$WORK/fapi.log" &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q '^ready' "$WORK/fapi.out" 2>/dev/null && break; sleep 0.1; done
FAPI_PORT=$(sed -n 's/^ready //p' "$WORK/fapi.out")
[[ -n "$FAPI_PORT" ]] || { cat "$WORK/fapi.log" >&2; exit 1; }
echo "Clerk's target frontend-api.clerk.services -> 127.0.0.1 in BIND; the fake answers on port $FAPI_PORT"
printf 'server 127.0.0.1 %s\nzone clerk.services\nupdate add frontend-api.clerk.services 60 A 127.0.0.1\nsend\n' "$DNS_PORT" |
  "$BIND_DIR/nsupdate" -y "hmac-sha256:externaldns-key:$(cat "$WORK/bind/tsig.secret")"

say "Installing external-dns's DNSEndpoint CRD (from its Go module) and starting external-dns"
"$KUBECTL" apply --server-side -f "$EXTERNAL_DNS_DIR/dnsendpoints.externaldns.k8s.io.yaml"
"$KUBECTL" wait --for=condition=Established --timeout=60s crd/dnsendpoints.externaldns.k8s.io
"$EXTERNAL_DNS_DIR/external-dns" --kubeconfig="$KUBECONFIG" \
  --source=crd --crd-source-apiversion=externaldns.k8s.io/v1alpha1 --crd-source-kind=DNSEndpoint \
  --provider=rfc2136 --rfc2136-host=127.0.0.1 --rfc2136-port="$DNS_PORT" --rfc2136-zone=example.com \
  --rfc2136-tsig-keyname=externaldns-key --rfc2136-tsig-secret="$(cat "$WORK/bind/tsig.secret")" \
  --rfc2136-tsig-secret-alg=hmac-sha256 --rfc2136-axfr --domain-filter=example.com \
  --policy=sync --registry=txt --txt-owner-id=clerk-demo --interval=5s --events \
  --min-event-sync-interval=1s --metrics-address="127.0.0.1:$(free_port)" >"$WORK/external-dns.log" 2>&1 &
PIDS+=($!)
echo "external-dns --source=crd --provider=rfc2136 --policy=sync --registry=txt --rfc2136-axfr (log: external-dns.log)"

say "Creating namespace web and Secret web/clerk with the Clerk secret key"
"$KUBECTL" create namespace web
"$KUBECTL" -n web create secret generic clerk --from-literal=CLERK_SECRET_KEY="$DEMO_KEY" >/dev/null
echo "secret/clerk created"

say "Starting clerk-operator"
CLERK_API_URL="http://127.0.0.1:$FAKE_PORT/v1" RESYNC_PERIOD=1m \
  target/debug/clerk-operator run --kubeconfig "$KUBECONFIG" --metrics-addr 127.0.0.1:0 \
    --dns-verify --dns-resolver "127.0.0.1:$DNS_PORT" \
    --frontend-api-check --frontend-api-port "$FAPI_PORT" --extra-ca-file "$WORK/frontend-api-ca.crt" \
    >"$WORK/operator.log" 2>&1 &
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
say "Waiting for DNSVerified: external-dns writes the records to BIND, the operator resolves them there"
"$KUBECTL" -n web wait --for=condition=DNSVerified --timeout=120s cdom/marketing

say "Waiting for FrontendAPIReachable: GET https://clerk.marketing.example.com/v1/health through the published CNAME"
"$KUBECTL" -n web wait --for=condition=FrontendAPIReachable --timeout=180s cdom/marketing

say "The ConfigMap the operator exports for marketing (spec.export), for the app's envFrom"
"$KUBECTL" -n web wait --for=condition=Exported --timeout=60s cdom/marketing
"$KUBECTL" -n web get configmap marketing-clerk -o jsonpath='{range .metadata.ownerReferences[*]}owner: {.kind}/{.name} (controller={.controller}){"\n"}{end}'
"$KUBECTL" -n web get configmap marketing-clerk -o go-template='{{range $k, $v := .data}}{{$k}}={{$v}}{{"\n"}}{{end}}'
say "kubectl apply --dry-run=server -f examples/app-deployment.yaml (a Deployment reading it with envFrom)"
"$KUBECTL" apply --dry-run=server -f examples/app-deployment.yaml

say "Events"
echo "(shop's proxy, https://shop.example.com/__clerk, does not exist here: its proxy-health probe"
echo " reports no answer, a Warning that leaves ProxyVerified's verdict and Ready as Clerk says)"
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

say "Deleting ClerkDomain shop (deletionPolicy Orphan: the domain stays in Clerk)"
"$KUBECTL" -n web delete cdom shop --timeout=60s
show_fake_domains

say "DNS as BIND answers it (dig @127.0.0.1 -p $DNS_PORT), and the operator's view"
for host in $("$KUBECTL" -n web get cdom marketing -o jsonpath='{range .status.cnameTargets[?(@.required==true)]}{.host}{" "}{end}'); do
  "$BIND_DIR/dig" @127.0.0.1 -p "$DNS_PORT" +noall +answer "$host" CNAME
done
"$KUBECTL" -n web get cdom marketing -o jsonpath='{range .status.conditions[*]}{.type}{"="}{.status}{" ("}{.reason}{"): "}{.message}{"\n"}{end}'
say "clerk-operator status -n web"
target/debug/clerk-operator status -n web || true
say "Demo finished; tearing down"
