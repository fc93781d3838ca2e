//go:build tools

// Tools module for hack/external-dns.sh: builds external-dns (the real one, from its Go module)
// for the DNS e2e test and `make demo`. It has its own module because external-dns v0.23.0 needs
// Go 1.27 (GOTOOLCHAIN=go1.27.3), which would force hack/tools' `go` line up.
package tools

import _ "sigs.k8s.io/external-dns"
