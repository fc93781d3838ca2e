// argolua runs an Argo CD Lua health check (health.lua) in gopher-lua, set up
// the way Argo CD sets it up (see vm.go).
//
//	argolua [-open-libs] -script health.lua [FILE|-]
//	    print {"status": ..., "message": ...}: the health the Argo CD
//	    application controller shows for the object (JSON or YAML; stdin when
//	    FILE is - or missing). -open-libs as with useOpenLibs in argocd-cm.
//	argolua test PATH...
//	    like Argo CD's TestLuaHealthScript: for every health.lua under PATH,
//	    run each entry of the health_test.yaml beside it and compare
//	    {status, message} exactly; each entry runs twice, with the standard
//	    libraries (as Argo CD's own test and built-in scripts) and without (as
//	    an argocd-cm customization by default). Exit 1 on any mismatch.
//	argolua cm-check CONFIGMAP.yaml KEY health.lua
//	    check that data[KEY] of the ConfigMap manifest is exactly health.lua
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"

	"clerk-operator/hack/health/internal/objfile"
)

func usage() {
	fmt.Fprintln(os.Stderr, `usage:
  argolua [-open-libs] -script health.lua [FILE|-]
  argolua test PATH...
  argolua cm-check CONFIGMAP.yaml KEY health.lua`)
}

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "test":
			os.Exit(runTests(os.Args[2:]))
		case "cm-check":
			os.Exit(cmCheck(os.Args[2:]))
		case "help", "-h", "--help":
			usage()
			return
		}
	}
	fs := flag.NewFlagSet("argolua", flag.ExitOnError)
	fs.Usage = usage
	script := fs.String("script", "", "health.lua to run")
	openLibs := fs.Bool("open-libs", false, "open Lua's standard libraries (argocd-cm useOpenLibs)")
	_ = fs.Parse(os.Args[1:])
	if *script == "" || fs.NArg() > 1 {
		usage()
		os.Exit(2)
	}
	src, err := os.ReadFile(*script)
	if err != nil {
		fmt.Fprintln(os.Stderr, "argolua:", err)
		os.Exit(1)
	}
	data, err := objfile.ReadBytes(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "argolua:", err)
		os.Exit(1)
	}
	// The application controller's objects come from client-go (integers as
	// int64), as objfile.Unstructured decodes them.
	u, err := objfile.Unstructured(data)
	if err != nil {
		fmt.Fprintln(os.Stderr, "argolua:", err)
		os.Exit(1)
	}
	if err := resourceHealth(u.Object, string(src), *openLibs).Print(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "argolua:", err)
		os.Exit(1)
	}
}

// runTests mirrors Argo CD's util/lua TestLuaHealthScript.
func runTests(paths []string) int {
	if len(paths) == 0 {
		usage()
		return 2
	}
	passed, failed, scripts := 0, 0, 0
	fail := func(format string, a ...any) {
		fmt.Printf("FAIL "+format+"\n", a...)
		failed++
	}
	for _, root := range paths {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || d.Name() != "health.lua" {
				return nil
			}
			scripts++
			dir := filepath.Dir(path)
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			table, err := objfile.ReadTable(filepath.Join(dir, "health_test.yaml"))
			if err != nil {
				fail("%s: %v", dir, err)
				return nil
			}
			for _, e := range table.Tests {
				if e.HealthStatus.Status == "" {
					fail("%s: no expected healthStatus.status", filepath.Join(dir, e.InputPath))
					continue
				}
				// As Argo CD's getObj: sigs.k8s.io/yaml into a map.
				raw, err := os.ReadFile(filepath.Join(dir, e.InputPath))
				obj := map[string]any{}
				if err == nil {
					err = yaml.Unmarshal(raw, &obj)
				}
				if err != nil {
					fail("%s: %v", filepath.Join(dir, e.InputPath), err)
					continue
				}
				for _, open := range []bool{true, false} {
					name := fmt.Sprintf("%s (open libs: %v)", filepath.Join(dir, e.InputPath), open)
					got, err := executeHealthLua(obj, string(src), open)
					switch {
					case err != nil:
						fail("%s: %v", name, err)
					case got != e.HealthStatus:
						fail("%s: health.lua says %s, expected %s", name, got, e.HealthStatus)
					default:
						fmt.Printf("ok   %s: %s\n", name, got)
						passed++
					}
				}
			}
			missing, err := objfile.Unreferenced(dir, table)
			if err != nil {
				return err
			}
			for _, m := range missing {
				fail("%s: in testdata but not in health_test.yaml", filepath.Join(dir, m))
			}
			return nil
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "argolua:", err)
			return 2
		}
	}
	if scripts == 0 {
		fail("no health.lua under %v", paths)
	}
	fmt.Printf("argolua: %d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}

func cmCheck(args []string) int {
	if len(args) != 3 {
		usage()
		return 2
	}
	manifest, key, script := args[0], args[1], args[2]
	raw, err := os.ReadFile(manifest)
	if err != nil {
		fmt.Fprintln(os.Stderr, "argolua:", err)
		return 2
	}
	var cm struct {
		Kind string            `json:"kind"`
		Data map[string]string `json:"data"`
	}
	if err := yaml.Unmarshal(raw, &cm); err != nil {
		fmt.Fprintf(os.Stderr, "argolua: %s: %v\n", manifest, err)
		return 1
	}
	want, err := os.ReadFile(script)
	if err != nil {
		fmt.Fprintln(os.Stderr, "argolua:", err)
		return 2
	}
	got, ok := cm.Data[key]
	switch {
	case cm.Kind != "ConfigMap":
		fmt.Fprintf(os.Stderr, "argolua: %s is a %q, not a ConfigMap\n", manifest, cm.Kind)
		return 1
	case !ok:
		fmt.Fprintf(os.Stderr, "argolua: %s has no data key %s\n", manifest, key)
		return 1
	case !bytes.Equal([]byte(got), want):
		fmt.Fprintf(os.Stderr, "argolua: data[%s] of %s differs from %s\n", key, manifest, script)
		return 1
	}
	fmt.Printf("argolua: data[%s] of %s is %s\n", key, manifest, script)
	return 0
}
