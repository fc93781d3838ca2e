//go:build tools

// Package tools pins the container runtime pieces of the test node that hack/node-tools.sh
// builds: containerd v2 (daemon, runc shim, ctr), runc, the CNI plugins and crictl. It is a
// module of its own so that it never moves the dependencies of the control-plane binaries
// built from hack/tools.
package tools

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/v2/cmd/ctr"
	_ "github.com/containernetworking/plugins/plugins/ipam/host-local"
	_ "github.com/containernetworking/plugins/plugins/main/bridge"
	_ "github.com/containernetworking/plugins/plugins/main/loopback"
	_ "github.com/containernetworking/plugins/plugins/meta/portmap"
	_ "github.com/opencontainers/runc"
)
