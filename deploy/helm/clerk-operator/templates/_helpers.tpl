{{/* Chart name. */}}
{{- define "clerk-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-chart, or the release name when it already contains the chart name. */}}
{{- define "clerk-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "clerk-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "clerk-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "clerk-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "clerk-operator.labels" -}}
helm.sh/chart: {{ include "clerk-operator.chart" . }}
{{ include "clerk-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "clerk-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "clerk-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Leader election: on by value, and always with more than one replica. */}}
{{- define "clerk-operator.leaderElect" -}}
{{- if or .Values.leaderElection.enabled (gt (int .Values.replicaCount) 1) }}true{{ else }}false{{ end }}
{{- end }}

{{/* The Secret holding the default Clerk key, or empty. */}}
{{- define "clerk-operator.keySecretName" -}}
{{- if and .Values.existingSecret .Values.secretKey }}
{{- fail "set at most one of existingSecret and secretKey" }}
{{- end }}
{{- if .Values.existingSecret }}
{{- .Values.existingSecret }}
{{- else if .Values.secretKey }}
{{- include "clerk-operator.fullname" . }}
{{- end }}
{{- end }}

{{/* The Lease used for leader election (one per release). */}}
{{- define "clerk-operator.leaseName" -}}
{{- include "clerk-operator.fullname" . }}
{{- end }}

{{/*
The operator's permissions on watched resources, exactly what it calls:
- clerkdomains: list, watch (the controller's watcher), patch (finalizer, JSON patch)
- clerkdomains/status: patch (server-side apply of status)
- secrets: get (the Secrets spec.secretRef and the instance objects name, read one by one; only
  the Secrets of rbac.secretNames when set);
  with secretProtection.enabled also list, watch (metadata-only watch) and patch (the
  clerk-operator.io/in-use finalizer)
- events.k8s.io events: create, patch (kube-runtime's Recorder; patch updates a series)
- externaldns.k8s.io dnsendpoints and configmaps, the owned children: get (is it this
  object's?), list, watch (metadata-only watch of the operator's label: a changed or deleted child
  reconciles its ClerkDomain), create and patch (server-side apply; the API server also checks
  `create` when an apply creates the object), delete (when
  spec.dns.externalDNS or spec.export is turned off or renamed)
- clerkinstances: list, watch (the instance controller), patch (the in-use finalizer);
  clerkinstances/status: patch (server-side apply of status)
*/}}
{{- define "clerk-operator.rules" -}}
- apiGroups: ["clerk-operator.io"]
  resources: ["clerkdomains"]
  verbs: ["list", "watch", "patch"]
- apiGroups: ["clerk-operator.io"]
  resources: ["clerkdomains/status"]
  verbs: ["patch"]
- apiGroups: [""]
  resources: ["secrets"]
  {{- if .Values.secretProtection.enabled }}
  verbs: ["get", "list", "watch", "patch"]
  {{- else }}
  {{- with .Values.rbac.secretNames }}
  resourceNames: {{ toJson . }}
  {{- end }}
  verbs: ["get"]
  {{- end }}
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["externaldns.k8s.io"]
  resources: ["dnsendpoints"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["clerk-operator.io"]
  resources: ["clerkinstances"]
  verbs: ["list", "watch", "patch"]
- apiGroups: ["clerk-operator.io"]
  resources: ["clerkinstances/status"]
  verbs: ["patch"]
{{- end }}

{{/*
Cluster-scoped permissions, only when the operator watches every namespace:
- clusterclerkinstances: list, watch, patch (in-use finalizer); their status: patch
- namespaces: get (the labels a ClusterClerkInstance's namespaceSelector matches)
*/}}
{{- define "clerk-operator.clusterRules" -}}
- apiGroups: ["clerk-operator.io"]
  resources: ["clusterclerkinstances"]
  verbs: ["list", "watch", "patch"]
- apiGroups: ["clerk-operator.io"]
  resources: ["clusterclerkinstances/status"]
  verbs: ["patch"]
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["get"]
{{- end }}

{{/* The name of the ClusterClerkInstance the chart creates, or empty. */}}
{{- define "clerk-operator.clusterInstanceName" -}}
{{- if .Values.clusterInstance.create }}
{{- if .Values.watchNamespace }}
{{- fail "clusterInstance.create needs the operator to watch every namespace: unset watchNamespace" }}
{{- end }}
{{- if not (include "clerk-operator.keySecretName" .) }}
{{- fail "clusterInstance.create needs the default key: set existingSecret or secretKey" }}
{{- end }}
{{- default (include "clerk-operator.fullname" .) .Values.clusterInstance.name }}
{{- end }}
{{- end }}

{{/* The operator image: repository@digest when image.digest is set, else repository:tag. */}}
{{- define "clerk-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
Whether the API server already serves ClusterClerkInstance (its CRD exists before this install or
upgrade). When it does not, the chart's ClusterClerkInstance is a post-install/post-upgrade hook:
Helm maps every object of the release manifest to an API before creating any, so a kind whose
CRD is created by the same manifest cannot be in it.
*/}}
{{- define "clerk-operator.clusterInstanceServed" -}}
{{- if .Capabilities.APIVersions.Has "clerk-operator.io/v1alpha1/ClusterClerkInstance" }}true{{ end }}
{{- end }}

{{/* Whether the ServiceMonitor is rendered: enabled, and its API served (or force). */}}
{{- define "clerk-operator.serviceMonitor" -}}
{{- if and .Values.serviceMonitor.enabled (or .Values.serviceMonitor.force (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor")) }}true{{ end }}
{{- end }}
