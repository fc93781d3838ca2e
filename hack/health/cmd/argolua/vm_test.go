package main

import (
	"strings"
	"testing"

	"clerk-operator/hack/health/internal/objfile"
)

var testObj = map[string]any{
	"apiVersion": "clerk-operator.io/v1alpha1",
	"kind":       "ClerkDomain",
	"metadata":   map[string]any{"name": "a", "generation": int64(2)},
	"status":     map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "True"}}},
}

// The result handling of Argo CD's ExecuteHealthLua.
func TestResults(t *testing.T) {
	cases := []struct {
		name, script string
		want         objfile.Verdict
		err          string
	}{
		{"table", `return {status = "Healthy", message = obj.metadata.name .. obj.metadata.generation}`, objfile.Verdict{Status: "Healthy", Message: "a2"}, ""},
		{"lists are arrays", `return {status = obj.status.conditions[1].type == "Ready" and "Degraded" or "Unknown"}`, objfile.Verdict{Status: "Degraded"}, ""},
		{"invalid code", `return {status = "Fine", message = "x"}`, objfile.Verdict{Status: "Unknown", Message: invalidHealthStatus}, ""},
		{"empty table", `return {}`, objfile.Verdict{}, ""},
		{"nil", `return nil`, objfile.Verdict{}, ""},
		{"no return", `local x = 1`, objfile.Verdict{}, ""},
		{"string", `return "Healthy"`, objfile.Verdict{}, "expect table output from Lua script, not string"},
		{"runtime error", `error("boom")`, objfile.Verdict{}, "boom"},
		{"syntax error", `return {`, objfile.Verdict{}, "<string>"},
		{"timeout", `while true do end`, objfile.Verdict{}, "context deadline exceeded"},
	}
	for _, c := range cases {
		for _, open := range []bool{false, true} {
			got, err := executeHealthLua(testObj, c.script, open)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Errorf("%s (open libs %v): error %v, want one containing %q", c.name, open, err, c.err)
				}
				if err != nil && strings.Contains(err.Error(), "stack traceback") {
					t.Errorf("%s: error keeps the Lua stack trace: %v", c.name, err)
				}
				continue
			}
			if err != nil || got != c.want {
				t.Errorf("%s (open libs %v): got %v, %v; want %v", c.name, open, got, err, c.want)
			}
		}
	}
}

// Which libraries a script sees, with and without useOpenLibs.
func TestLibraries(t *testing.T) {
	cases := []struct {
		script         string
		closed, opened string
	}{
		{`return {status = "Healthy", message = type(string)}`, "nil", "table"},
		{`return {status = "Healthy", message = type(os)}`, "nil", "table"},
		{`return {status = "Healthy", message = type(os and os.exit)}`, "nil", "function"},
		{`return {status = "Healthy", message = type(require("os").time())}`, "number", "number"},
		// require("os") is the safe os, also with open libraries: re-opening the
		// package library empties package.loaded, and the preload wins.
		{`return {status = "Healthy", message = type(require("os").exit)}`, "nil", "nil"},
		// Registering the safe os under the table library's name adds nothing
		// (RegisterModule keeps an existing module as it is).
		{`return {status = "Healthy", message = type(table.insert) .. type(table.time) .. type(table.date)}`, "functionnilnil", "functionnilnil"},
		{`return {status = "Healthy", message = type(ipairs) .. type(pairs) .. type(tostring) .. type(pcall)}`, "functionfunctionfunctionfunction", "functionfunctionfunctionfunction"},
		{`return {status = "Healthy", message = type(actionParams)}`, "table", "table"},
		{`return {status = "Healthy", message = require("os").date("!%Y-%m-%d %H:%M:%S", 86400 + 3661)}`, "1970-01-02 01:01:01", "1970-01-02 01:01:01"},
		{`return {status = "Healthy", message = tostring(require("os").date("!*t", 0).year)}`, "1970", "1970"},
	}
	for _, c := range cases {
		for open, want := range map[bool]string{false: c.closed, true: c.opened} {
			got, err := executeHealthLua(testObj, c.script, open)
			if err != nil || got.Message != want {
				t.Errorf("%s (open libs %v): got %q, %v; want %q", c.script, open, got.Message, err, want)
			}
		}
	}
}

// The application controller's view: deletion short-circuits, errors are Unknown.
func TestResourceHealth(t *testing.T) {
	deleting := map[string]any{"metadata": map[string]any{"name": "a", "deletionTimestamp": "2026-01-01T00:00:00Z"}}
	if got := resourceHealth(deleting, `return {status = "Healthy"}`, false); got != (objfile.Verdict{Status: "Progressing", Message: "Pending deletion"}) {
		t.Errorf("deleting: %v", got)
	}
	hook := map[string]any{"metadata": map[string]any{"name": "a", "deletionTimestamp": "2026-01-01T00:00:00Z",
		"finalizers": []any{"argocd.argoproj.io/hook-finalizer"}}}
	if got := resourceHealth(hook, `return {status = "Healthy"}`, false); got != (objfile.Verdict{Status: "Healthy"}) {
		t.Errorf("deleting hook: %v", got)
	}
	if got := resourceHealth(testObj, `error("boom")`, false); got.Status != "Unknown" || !strings.Contains(got.Message, "boom") {
		t.Errorf("error: %v", got)
	}
}
