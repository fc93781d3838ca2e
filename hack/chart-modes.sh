#!/usr/bin/env bash
# hack/chart-modes.sh HELM - checks of the Helm chart that need no cluster (run by
# `make chart-check` after lint and RBAC):
#   1. every `helm install`/`helm upgrade` command line of the chart README, exactly as written
#      (run by bash, so its quoting is what a user's shell does), renders;
#   2. NOTES.txt of each install mode says what that mode does;
#   3. the values added for production installs render as documented.
# Run from the repository root.
set -euo pipefail

HELM=${1:?usage: hack/chart-modes.sh HELM}
CHART=deploy/helm/clerk-operator
README=$CHART/README.md
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

fail() { echo "chart-modes: $*" >&2; exit 1; }

# `helm template` output for --set VALUES (one string, commas between values) plus extra args.
render() {
  local sets=$1
  shift
  "$HELM" template chart-check $CHART --namespace clerk-system ${sets:+--set "$sets"} "$@"
}

# NOTES.txt for --set VALUES. `helm install --dry-run` needs a reachable cluster and `helm
# template` leaves NOTES out, so a copy of the chart renders NOTES.txt with `tpl` into a
# ConfigMap (same values, same helpers, same release name and namespace).
cp -r $CHART "$out/notes-chart"
mv "$out/notes-chart/templates/NOTES.txt" "$out/notes-chart/files/NOTES.txt"
cat >"$out/notes-chart/templates/zz-notes.yaml" <<'EOF_NOTES'
apiVersion: v1
kind: ConfigMap
metadata:
  name: notes
data:
  notes: |
{{ tpl (.Files.Get "files/NOTES.txt") . | indent 4 }}
EOF_NOTES
notes() {
  "$HELM" template chart-check "$out/notes-chart" --namespace clerk-system \
    ${1:+--set "$1"} --show-only templates/zz-notes.yaml
}

has() { grep -qF -- "$2" <<<"$1" || fail "$3: missing '$2'"; }
hasnt() { ! grep -qF -- "$2" <<<"$1" || fail "$3: unexpected '$2'"; }

# 1. The README's command lines. `helm` runs them as `helm template` (install/upgrade) so that
#    no cluster is needed; every other command of the blocks is left out.
helm() {
  local verb=$1
  shift
  case "$verb" in
    install | upgrade)
      # `upgrade --install NAME CHART` and `install NAME CHART` take the same arguments.
      local args=()
      for a in "$@"; do [[ "$a" == --install || "$a" == --wait ]] || args+=("$a"); done
      "$HELM" template "${args[@]}"
      ;;
    *) fail "README command 'helm $verb' is not checked" ;;
  esac
}
commands=$(awk '
  /^```/ { inblock = !inblock; next }
  inblock {
    line = $0
    if (cont != "") { cont = cont "\n" line } else if (line ~ /^helm (install|upgrade) /) { cont = line } else { next }
    if (line !~ /\\$/) { print cont; print "\x1e"; cont = "" }
  }' "$README")
n=0
while IFS= read -r -d $'\x1e' cmd; do
  cmd=${cmd#$'\n'}
  [[ -n "${cmd//[[:space:]]/}" ]] || continue
  n=$((n + 1))
  echo "chart-modes: README command $n: ${cmd%%$'\n'*}..."
  eval "$cmd" >"$out/readme-$n.yaml" 2>"$out/readme-$n.err" ||
    fail "README command fails as written:"$'\n'"$cmd"$'\n'"$(cat "$out/readme-$n.err")"
  if grep -qF 'namespaceSelector.matchLabels' <<<"$cmd"; then
    grep -qF 'clerk-operator.io/instance: shared' "$out/readme-$n.yaml" ||
      fail "README command does not select namespaces labelled clerk-operator.io/instance=shared:"$'\n'"$cmd"
  fi
done < <(printf '%s\n' "$commands")
((n >= 5)) || fail "only $n helm command lines found in $README"
unset -f helm

# 2. NOTES of each install mode.
crds='This release installed the CRDs clerkdomains, clerkinstances and clusterclerkinstances'
n=$(notes "")
has "$n" "$crds" "NOTES (default)"
has "$n" "No default Clerk key" "NOTES (default)"
hasnt "$n" "installCRDs=false" "NOTES (default)"
n=$(notes "installCRDs=false,watchNamespace=apps")
for f in crds/clerkdomain.yaml crds/clerkinstance.yaml crds/clusterclerkinstance.yaml; do
  has "$n" "$f" "NOTES (installCRDs=false)"
done
hasnt "$n" "$crds" "NOTES (installCRDs=false)"
has "$n" "namespace apps only" "NOTES (watchNamespace)"
has "$n" "kubectl -n apps wait --for=condition=Ready" "NOTES (watchNamespace)"
n=$(notes "existingSecret=clerk,defaultKeyNamespaces[0]=web")
has "$n" "Secret clerk-system/clerk, key CLERK_SECRET_KEY" "NOTES (existingSecret)"
has "$n" "namespaces web may use" "NOTES (existingSecret)"
n=$(notes "existingSecret=clerk,clusterInstance.create=true,clusterInstance.namespaceSelector.matchLabels.team=web")
has "$n" "it uses ClusterClerkInstance" "NOTES (clusterInstance)"
has "$n" "chart-check-clerk-operator (--default-instance)" "NOTES (clusterInstance)"
has "$n" '{"matchLabels":{"team":"web"}}' "NOTES (clusterInstance)"
has "$n" "kubectl label namespace default team=web" "NOTES (clusterInstance)"
has "$n" "keeps ClusterClerkInstance chart-check-clerk-operator" "NOTES (clusterInstance)"
hasnt "$n" "may use (defaultKeyNamespaces" "NOTES (clusterInstance)"
n=$(notes "existingSecret=clerk,clusterInstance.create=true")
has "$n" "Its namespaceSelector is empty: every namespace may use it." "NOTES (clusterInstance, all)"
n=$(notes "serviceMonitor.enabled=true")
has "$n" "does not serve monitoring.coreos.com/v1" "NOTES (serviceMonitor without its API)"
n=$(notes "serviceMonitor.enabled=true,serviceMonitor.force=true")
has "$n" "(ServiceMonitor chart-check-clerk-operator created)" "NOTES (serviceMonitor.force)"
has "$n" "Metrics: https://chart-check-clerk-operator-metrics.clerk-system.svc:8080/metrics" "NOTES (metrics.secure)"
has "$n" "bind ClusterRole chart-check-clerk-operator-metrics-reader" "NOTES (metrics.secure)"
hasnt "$n" "and their Secrets" "NOTES (no secret protection)"
n=$(notes "metrics.secure=false,secretProtection.enabled=true")
has "$n" "Metrics: http://chart-check-clerk-operator-metrics.clerk-system.svc:8080/metrics (plain HTTP" "NOTES (metrics.secure=false)"
has "$n" "the instances they use and their Secrets (clerk-operator.io/in-use)" "NOTES (secretProtection)"
n=$(notes "replicaCount=3")
has "$n" "3 replicas: only the holder of Lease clerk-system/chart-check-clerk-operator reconciles." "NOTES (replicas)"

# 3. Values.
y=$(render "")
hasnt "$y" "topologySpreadConstraints" "one replica"
has "$y" "runAsUser: 65532" "default security context"
has "$y" 'image: "clerk-operator:' "default image"
y=$(render "replicaCount=2,podDisruptionBudget.unhealthyPodEvictionPolicy=AlwaysAllow")
has "$y" "topologyKey: kubernetes.io/hostname" "replicaCount=2 spread"
has "$y" "whenUnsatisfiable: ScheduleAnyway" "replicaCount=2 spread"
has "$y" "unhealthyPodEvictionPolicy: AlwaysAllow" "PDB"
y=$(render "replicaCount=2,topologySpreadConstraints[0].maxSkew=2,topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone,topologySpreadConstraints[0].whenUnsatisfiable=DoNotSchedule")
has "$y" "topologyKey: topology.kubernetes.io/zone" "own topologySpreadConstraints"
hasnt "$y" "topologyKey: kubernetes.io/hostname" "own topologySpreadConstraints replace the default"
digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
y=$(render "image.repository=registry.example.com/clerk-operator,image.tag=9.9.9,image.digest=$digest")
has "$y" "image: \"registry.example.com/clerk-operator@$digest\"" "image.digest"
# OpenShift: no fixed UID or GID anywhere, the rest of the restricted profile stays.
y=$(render "podSecurityContext.runAsUser=null,podSecurityContext.runAsGroup=null,podSecurityContext.fsGroup=null,securityContext.runAsUser=null")
hasnt "$y" "65532" "OpenShift security context"
has "$y" "runAsNonRoot: true" "OpenShift security context"
has "$y" "readOnlyRootFilesystem: true" "OpenShift security context"
# A CA bundle for outbound TLS.
y=$(render "extraVolumes[0].name=corp-ca,extraVolumes[0].configMap.name=corp-ca,extraVolumeMounts[0].name=corp-ca,extraVolumeMounts[0].mountPath=/etc/corp-ca,extraVolumeMounts[0].readOnly=true,extraEnv[0].name=SSL_CERT_FILE,extraEnv[0].value=/etc/corp-ca/ca-bundle.crt,existingSecret=clerk")
has "$y" "mountPath: /etc/corp-ca" "extraVolumeMounts"
has "$y" "mountPath: /etc/clerk-operator" "extraVolumeMounts keep the key mount"
has "$y" "name: corp-ca" "extraVolumes"
has "$y" "value: /etc/corp-ca/ca-bundle.crt" "extraEnv"
# ServiceMonitor: only when monitoring.coreos.com/v1 is served, or forced.
y=$(render "serviceMonitor.enabled=true")
hasnt "$y" "kind: ServiceMonitor" "ServiceMonitor without its API"
y=$(render "serviceMonitor.enabled=true" --api-versions monitoring.coreos.com/v1/ServiceMonitor)
has "$y" "kind: ServiceMonitor" "ServiceMonitor with its API"
y=$(render "serviceMonitor.enabled=true,serviceMonitor.force=true")
has "$y" "kind: ServiceMonitor" "serviceMonitor.force"
# The ClusterClerkInstance: a hook until its CRD is served, then a release object; kept.
y=$(render "existingSecret=clerk,clusterInstance.create=true" --show-only templates/clusterinstance.yaml)
has "$y" "helm.sh/hook: post-install,post-upgrade" "ClusterClerkInstance before its CRD exists"
has "$y" "meta.helm.sh/release-name: chart-check" "ClusterClerkInstance hook ownership"
has "$y" "helm.sh/resource-policy: keep" "ClusterClerkInstance kept"
y=$(render "existingSecret=clerk,clusterInstance.create=true" --show-only templates/clusterinstance.yaml \
  --api-versions clerk-operator.io/v1alpha1/ClusterClerkInstance)
hasnt "$y" "helm.sh/hook" "ClusterClerkInstance once its CRD is served"
has "$y" "helm.sh/resource-policy: keep" "ClusterClerkInstance kept"
echo "chart-modes: README commands, NOTES of each mode and production values are fine"
