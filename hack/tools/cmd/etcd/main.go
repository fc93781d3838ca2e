// Command etcd is etcd's server binary, built from the go.etcd.io/etcd/server/v3
// module version pinned in ../../go.mod. It exists only so that `go build -o DIR`
// names the binary "etcd" (the upstream main package lives at
// go.etcd.io/etcd/server/v3, which would be named "server").
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
