// Package objfile reads Kubernetes objects and test tables for the health
// helpers.
package objfile

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// ReadBytes reads path, or stdin when path is "-" or empty.
func ReadBytes(path string) ([]byte, error) {
	if path == "" || path == "-" {
		return io.ReadAll(os.Stdin)
	}
	return os.ReadFile(path)
}

// Unstructured decodes a JSON or YAML object the way client-go does: integers
// become int64 (kstatus reads metadata.generation with NestedInt64, which
// rejects the float64 that a plain json.Unmarshal would give).
func Unstructured(data []byte) (*unstructured.Unstructured, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("not JSON or YAML: %w", err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		return nil, fmt.Errorf("not a Kubernetes object: %w", err)
	}
	return u, nil
}

// Verdict is a status and message, as both tools print them.
type Verdict struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
}

// Print writes v as one line of JSON ({"status": ..., "message": ...}), without
// HTML escaping.
func (v Verdict) Print(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func (v Verdict) String() string { return fmt.Sprintf("%s (%q)", v.Status, v.Message) }

// Test is one entry of a test table. Argo CD's health_test.yaml has
// healthStatus and inputPath; kstatus_test.yaml has kstatus and inputPath.
type Test struct {
	InputPath    string  `json:"inputPath"`
	HealthStatus Verdict `json:"healthStatus"`
	Kstatus      Verdict `json:"kstatus"`
}

// Table is a test file: `tests:` followed by entries.
type Table struct {
	Tests []Test `json:"tests"`
}

// ReadTable reads a test table strictly (an unknown or misspelt key is an
// error, not a silently skipped expectation).
func ReadTable(path string) (*Table, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var t Table
	if err := yaml.UnmarshalStrict(data, &t); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(t.Tests) == 0 {
		return nil, fmt.Errorf("%s: no tests", path)
	}
	return &t, nil
}

// Unreferenced lists the files under dir/testdata that no entry of the table
// names, so that every captured object has an expectation.
func Unreferenced(dir string, t *Table) ([]string, error) {
	seen := map[string]bool{}
	for _, e := range t.Tests {
		seen[filepath.Clean(e.InputPath)] = true
	}
	matches, err := filepath.Glob(filepath.Join(dir, "testdata", "*"))
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, m := range matches {
		rel, err := filepath.Rel(dir, m)
		if err != nil {
			return nil, err
		}
		if !seen[rel] && (strings.HasSuffix(rel, ".yaml") || strings.HasSuffix(rel, ".yml") || strings.HasSuffix(rel, ".json")) {
			missing = append(missing, rel)
		}
	}
	sort.Strings(missing)
	return missing, nil
}
