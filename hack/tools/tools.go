//go:build tools

// Package tools pins the control-plane binaries that hack/envtest.sh builds, and the
// node binaries (kubelet, kube-scheduler, kube-proxy) that `hack/envtest.sh node` builds for
// `make e2e-node`; one module, so that both use exactly the same Kubernetes module set.
// The build tag keeps this file out of every real build; `go mod tidy` still
// sees the imports and records their modules in go.mod/go.sum.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
