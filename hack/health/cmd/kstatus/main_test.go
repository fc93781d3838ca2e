package main

import (
	"testing"

	"clerk-operator/hack/health/internal/objfile"
)

// Objects decode as client-go decodes them: kstatus reads generations with
// NestedInt64, which fails on the float64 a plain YAML/JSON decode gives.
func TestCompute(t *testing.T) {
	cases := []struct {
		name, obj string
		want      objfile.Verdict
	}{
		{"yaml generation behind", "apiVersion: clerk-operator.io/v1alpha1\nkind: ClerkDomain\nmetadata: {name: a, generation: 2}\nstatus: {observedGeneration: 1}\n",
			objfile.Verdict{Status: "InProgress", Message: "ClerkDomain generation is 2, but latest observed generation is 1"}},
		{"json stalled", `{"apiVersion":"clerk-operator.io/v1alpha1","kind":"ClerkDomain","metadata":{"name":"a","generation":1},"status":{"observedGeneration":1,"conditions":[{"type":"Stalled","status":"True","reason":"ClerkRejected","message":"no"}]}}`,
			objfile.Verdict{Status: "Failed", Message: "no"}},
		{"deleting", "apiVersion: clerk-operator.io/v1alpha1\nkind: ClerkDomain\nmetadata: {name: a, deletionTimestamp: '2026-01-01T00:00:00Z'}\n",
			objfile.Verdict{Status: "Terminating", Message: "Resource scheduled for deletion"}},
	}
	for _, c := range cases {
		got, err := compute([]byte(c.obj))
		if err != nil || got != c.want {
			t.Errorf("%s: got %v, %v; want %v", c.name, got, err, c.want)
		}
	}
	if _, err := compute([]byte("metadata: {name: a}\n")); err == nil {
		t.Error("an object without kind was accepted")
	}
}
