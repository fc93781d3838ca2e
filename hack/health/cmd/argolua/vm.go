package main

// The Lua VM as Argo CD sets it up for a health check (argo-cd util/lua):
//
//   - lua.NewState with SkipOpenLibs unless the customization sets useOpenLibs
//     (argocd-cm: resource.customizations.useOpenLibs.<group_kind>; Argo CD's
//     built-in scripts and its own health_test.go run with open libraries);
//   - then, in both cases, the package, base and table libraries are opened
//     (again), plus a "safe" os library with only time and date. Argo CD
//     registers that one under the table library's name, which adds nothing
//     (gopher-lua's RegisterModule keeps an existing module), and preloads it
//     as module "os". So without open libraries there is no os (nor string)
//     global, and with them os is gopher-lua's full os library; in both cases
//     `require("os")` gives the safe {time, date} (re-opening the package
//     library empties package.loaded, so the preload answers);
//   - a 1 s execution timeout (LState.SetContext);
//   - the object is the global `obj`, converted value by value (maps to hash
//     tables, lists to arrays, numbers to LNumber, nil to nil);
//   - the script is compiled with LoadString and called with PCall; a run-time
//     error loses its Lua stack trace;
//   - the last value on the stack is the result: a table is encoded with
//     gopher-json and decoded into {status, message} (an empty table encodes as
//     [] and gives an empty status); a status that is not one of Argo CD's
//     codes becomes Unknown "Lua returned an invalid health status"; nil gives
//     an empty status; any other type is an error.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
	luajson "layeh.com/gopher-json"

	"clerk-operator/hack/health/internal/objfile"
)

// Argo CD's health status codes (gitops-engine pkg/health).
var healthCodes = map[string]bool{
	"Unknown": true, "Progressing": true, "Healthy": true,
	"Suspended": true, "Degraded": true, "Missing": true,
}

const invalidHealthStatus = "Lua returned an invalid health status"

func safeOsFuncs() map[string]lua.LGFunction {
	return map[string]lua.LGFunction{"time": osTime, "date": osDate}
}

func newState(useOpenLibs bool) *lua.LState {
	l := lua.NewState(lua.Options{SkipOpenLibs: !useOpenLibs})
	openSafeOs := func(l *lua.LState) int {
		l.Push(l.RegisterModule(lua.TabLibName, safeOsFuncs()))
		return 1
	}
	libs := []struct {
		name string
		fn   lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.OsLibName, openSafeOs},
	}
	for _, lib := range libs {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.fn), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			panic(err)
		}
	}
	l.PreloadModule(lua.OsLibName, func(l *lua.LState) int {
		l.Push(l.SetFuncs(l.NewTable(), safeOsFuncs()))
		return 1
	})
	return l
}

// toLua converts a decoded JSON/YAML value the way Argo CD's decodeValue does.
func toLua(l *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case bool:
		return lua.LBool(x)
	case float64:
		return lua.LNumber(x)
	case int:
		return lua.LNumber(x)
	case int32:
		return lua.LNumber(x)
	case int64:
		return lua.LNumber(x)
	case json.Number:
		return lua.LString(x)
	case string:
		return lua.LString(x)
	case []any:
		t := l.CreateTable(len(x), 0)
		for _, item := range x {
			t.Append(toLua(l, item))
		}
		return t
	case map[string]any:
		t := l.CreateTable(0, len(x))
		for k, item := range x {
			t.RawSetH(lua.LString(k), toLua(l, item))
		}
		return t
	}
	return lua.LNil
}

// executeHealthLua runs script against obj and returns the health it reports.
func executeHealthLua(obj map[string]any, script string, useOpenLibs bool) (objfile.Verdict, error) {
	l := newState(useOpenLibs)
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("actionParams", l.CreateTable(0, 0))
	l.SetGlobal("obj", toLua(l, obj))

	fn, err := l.LoadString(script)
	if err == nil {
		l.Push(fn)
		err = l.PCall(0, lua.MultRet, nil)
	}
	if err != nil {
		var apiErr *lua.ApiError
		if errors.As(err, &apiErr) && apiErr.Type == lua.ApiErrorRun {
			apiErr.StackTrace = ""
			err = apiErr
		}
		return objfile.Verdict{}, err
	}

	ret := l.Get(-1)
	switch ret.Type() {
	case lua.LTNil:
		return objfile.Verdict{}, nil
	case lua.LTTable:
	default:
		return objfile.Verdict{}, fmt.Errorf("expect table output from Lua script, not %s", ret.Type())
	}
	js, err := luajson.Encode(ret)
	if err != nil {
		return objfile.Verdict{}, err
	}
	var v objfile.Verdict
	if err := json.Unmarshal(js, &v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Value == "array" {
			return objfile.Verdict{}, nil // an empty table encodes as []
		}
		return objfile.Verdict{}, err
	}
	if !healthCodes[v.Status] {
		return objfile.Verdict{Status: "Unknown", Message: invalidHealthStatus}, nil
	}
	return v, nil
}

// resourceHealth is what the Argo CD application controller shows for obj
// (gitops-engine health.GetResourceHealth with the Lua override): an object
// being deleted is Progressing "Pending deletion" before any script runs
// (unless it carries Argo CD's hook finalizer); a failing script is Unknown
// with the error as message.
func resourceHealth(obj map[string]any, script string, useOpenLibs bool) objfile.Verdict {
	meta, _ := obj["metadata"].(map[string]any)
	if ts, ok := meta["deletionTimestamp"]; ok && ts != nil && !hasFinalizer(meta, "argocd.argoproj.io/hook-finalizer") {
		return objfile.Verdict{Status: "Progressing", Message: "Pending deletion"}
	}
	v, err := executeHealthLua(obj, script, useOpenLibs)
	if err != nil {
		return objfile.Verdict{Status: "Unknown", Message: err.Error()}
	}
	return v
}

func hasFinalizer(meta map[string]any, name string) bool {
	list, _ := meta["finalizers"].([]any)
	for _, f := range list {
		if f == name {
			return true
		}
	}
	return false
}

// os.time: now, or the time of a {year, month, day, hour, min, sec} table
// (hour defaults to 12), as Unix seconds.
func osTime(l *lua.LState) int {
	if l.GetTop() == 0 {
		l.Push(lua.LNumber(time.Now().Unix()))
		return 1
	}
	t := l.CheckTable(1)
	field := func(name string, def int) int {
		if n, ok := t.RawGetString(name).(lua.LNumber); ok {
			return int(n)
		}
		return def
	}
	d := time.Date(field("year", -1), time.Month(field("month", -1)), field("day", -1),
		field("hour", 12), field("min", 0), field("sec", 0), 0, time.Local)
	l.Push(lua.LNumber(d.Unix()))
	return 1
}

// os.date([format [, time]]): "!" prefix for UTC, "*t" for a table, else
// strftime-style conversions.
func osDate(l *lua.LState) int {
	format := "%c"
	if l.GetTop() >= 1 {
		format = l.CheckString(1)
	}
	t := time.Now()
	if l.GetTop() >= 2 {
		t = time.Unix(l.CheckInt64(2), 0)
	}
	if strings.HasPrefix(format, "!") {
		t = t.UTC()
		format = format[1:]
	} else {
		t = t.Local()
	}
	if strings.HasPrefix(format, "*t") {
		tbl := l.NewTable()
		for k, v := range map[string]int{
			"year": t.Year(), "month": int(t.Month()), "day": t.Day(), "hour": t.Hour(),
			"min": t.Minute(), "sec": t.Second(), "wday": int(t.Weekday()) + 1, "yday": t.YearDay(),
		} {
			tbl.RawSetString(k, lua.LNumber(v))
		}
		tbl.RawSetString("isdst", lua.LFalse)
		l.Push(tbl)
		return 1
	}
	l.Push(lua.LString(strftime(format, t)))
	return 1
}

func strftime(format string, t time.Time) string {
	layouts := map[byte]string{
		'a': "Mon", 'A': "Monday", 'b': "Jan", 'B': "January", 'c': "Mon Jan  2 15:04:05 2006",
		'd': "02", 'H': "15", 'I': "03", 'm': "01", 'M': "04", 'p': "PM", 'S': "05",
		'x': "01/02/06", 'X': "15:04:05", 'y': "06", 'Y': "2006", 'Z': "MST", 'z': "-0700",
	}
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		if format[i] != '%' || i+1 == len(format) {
			b.WriteByte(format[i])
			continue
		}
		i++
		switch c := format[i]; c {
		case '%':
			b.WriteByte('%')
		case 'j':
			fmt.Fprintf(&b, "%03d", t.YearDay())
		case 'w':
			fmt.Fprintf(&b, "%d", int(t.Weekday()))
		default:
			if layout, ok := layouts[c]; ok {
				b.WriteString(t.Format(layout))
			} else {
				b.WriteByte('%')
				b.WriteByte(c)
			}
		}
	}
	return b.String()
}
