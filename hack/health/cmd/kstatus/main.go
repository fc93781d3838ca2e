// kstatus computes the status of a Kubernetes object with sigs.k8s.io/cli-utils'
// kstatus, the library behind Flux's health checks (`wait: true`,
// `healthChecks`) and `kpt live status`.
//
//	kstatus [FILE|-]         print {"status": ..., "message": ...} for one object
//	                         (JSON or YAML; stdin when FILE is - or missing)
//	kstatus test TABLE.yaml  check each entry's object against its expected
//	                         `kstatus: {status, message}`; exit 1 on a mismatch
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"clerk-operator/hack/health/internal/objfile"
)

func compute(data []byte) (objfile.Verdict, error) {
	u, err := objfile.Unstructured(data)
	if err != nil {
		return objfile.Verdict{}, err
	}
	res, err := status.Compute(u)
	if err != nil {
		return objfile.Verdict{}, fmt.Errorf("status.Compute: %w", err)
	}
	return objfile.Verdict{Status: res.Status.String(), Message: res.Message}, nil
}

func runTest(table string) int {
	t, err := objfile.ReadTable(table)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kstatus:", err)
		return 2
	}
	dir := filepath.Dir(table)
	passed, failed := 0, 0
	for _, e := range t.Tests {
		if e.Kstatus.Status == "" {
			fmt.Printf("FAIL %s: no expected kstatus.status\n", e.InputPath)
			failed++
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.InputPath))
		var got objfile.Verdict
		if err == nil {
			got, err = compute(data)
		}
		switch {
		case err != nil:
			fmt.Printf("FAIL %s: %v\n", e.InputPath, err)
			failed++
		case got != e.Kstatus:
			fmt.Printf("FAIL %s: kstatus says %s, expected %s\n", e.InputPath, got, e.Kstatus)
			failed++
		default:
			fmt.Printf("ok   %s: %s\n", e.InputPath, got)
			passed++
		}
	}
	missing, err := objfile.Unreferenced(dir, t)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kstatus:", err)
		return 2
	}
	for _, m := range missing {
		fmt.Printf("FAIL %s: in testdata but not in %s\n", m, table)
		failed++
	}
	fmt.Printf("kstatus: %d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}

func main() {
	args := os.Args[1:]
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Println("usage: kstatus [FILE|-] | kstatus test TABLE.yaml")
		return
	}
	if len(args) == 2 && args[0] == "test" {
		os.Exit(runTest(args[1]))
	}
	if len(args) > 1 {
		fmt.Fprintln(os.Stderr, "usage: kstatus [FILE|-] | kstatus test TABLE.yaml")
		os.Exit(2)
	}
	path := "-"
	if len(args) == 1 {
		path = args[0]
	}
	data, err := objfile.ReadBytes(path)
	if err == nil {
		var v objfile.Verdict
		if v, err = compute(data); err == nil {
			if err = v.Print(os.Stdout); err == nil {
				return
			}
		}
	}
	fmt.Fprintln(os.Stderr, "kstatus:", err)
	os.Exit(1)
}
