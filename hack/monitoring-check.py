#!/usr/bin/env python3
"""Check that the alerts and the Grafana dashboard use only metrics clerk-operator exposes.

Reads the PromQL of every rule in the alert rule file (`expr:` values) and of every dashboard
query (panel targets, nested row panels, query variables), extracts the metric names and checks
each against the list of exposed sample names (deploy/monitoring/metric-names.txt), plus `up`,
which Prometheus itself writes for every target. The dashboard must also be valid JSON with a
Prometheus datasource variable that every panel and query uses, and unique panel ids.

With --scrape FILE (a Prometheus text exposition, e.g. `curl -s POD:8080/metrics`), the sample
names in the scrape are compared with the list: a name in the scrape that is not listed is an
error (the list is out of date); a listed name missing from the scrape is only reported, since a
labelled family has no sample until its first observation.

With --promtool PATH, every dashboard query (Grafana's $variables replaced by sample values) is
also parsed by `promtool check rules`, as a recording rule, so that a syntax error fails here
rather than in Grafana.

Exit status 0 when every check passes, 1 otherwise. Python 3 standard library only.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

# Written by Prometheus for every scrape target, not by the operator.
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
    "unless", "offset", "inf", "nan", "atan2",
}
IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def read_names(path):
    names = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                names.add(line)
    return names


def scrape_names(path):
    """Sample names of a text exposition (Prometheus or OpenMetrics)."""
    names = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            m = IDENT.match(line)
            if m:
                names.add(m.group(0))
    return names


def _strip(expr):
    """PromQL without string literals, label matchers, ranges and grouping label lists."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    expr = re.sub(r"\{[^{}]*\}", " ", expr)
    expr = re.sub(r"\[[^\[\]]*\]", " ", expr)
    expr = re.sub(
        r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", " ", expr
    )
    return expr


def metric_names(expr):
    """Metric names in one PromQL expression (Grafana's label_values() and $variables too)."""
    names = set()
    for m in re.finditer(r"label_values\(\s*([^,()]*?)\s*,", expr):
        inner = m.group(1)
        names |= metric_names(inner)
    expr = re.sub(r"label_values\(\s*[^,()]*?\s*,\s*[A-Za-z_][A-Za-z0-9_]*\s*\)", " ", expr)
    expr = re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", " ", expr)
    expr = _strip(expr)
    for m in IDENT.finditer(expr):
        word = m.group(0)
        rest = expr[m.end():].lstrip()
        if rest.startswith("("):  # a function or aggregation
            continue
        if word.lower() in KEYWORDS:
            continue
        # A number's exponent or unit (1e3, 5m) starts with a digit before it.
        if m.start() > 0 and (expr[m.start() - 1].isdigit() or expr[m.start() - 1] == "."):
            continue
        names.add(word)
    return names


def rule_exprs(path):
    """The `expr:` values of a Prometheus rule file (plain and block scalars)."""
    exprs = []
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^(\s*)(?:-\s+)?expr:\s*(.*)$", line)
        if not m:
            i += 1
            continue
        value = m.group(2).strip()
        if value in ("|", "|-", ">", ">-", "|+", ">+"):
            indent = len(m.group(1))
            block = []
            i += 1
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                block.append(lines[i].strip())
                i += 1
            exprs.append(" ".join(block))
            continue
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        exprs.append(value)
        i += 1
    return exprs


def dashboard_exprs(dash, errors):
    """The PromQL of every query of the dashboard; checks datasources and panel ids."""
    exprs = []
    variables = dash.get("templating", {}).get("list", [])
    ds_vars = [v["name"] for v in variables if v.get("type") == "datasource" and v.get("query") == "prometheus"]
    if not ds_vars:
        errors.append("dashboard: no Prometheus datasource variable")
    allowed = {"${%s}" % n for n in ds_vars} | {"$%s" % n for n in ds_vars}

    def check_ds(where, ds):
        uid = ds.get("uid") if isinstance(ds, dict) else ds
        if uid not in allowed:
            errors.append("dashboard: %s uses datasource %r, not the datasource variable" % (where, uid))

    for v in variables:
        if v.get("type") == "query":
            check_ds("variable %s" % v.get("name"), v.get("datasource"))
            q = v.get("query")
            exprs.append(q.get("query", "") if isinstance(q, dict) else q or "")
    ids = []

    def walk(panels):
        for p in panels:
            ids.append(p.get("id"))
            title = p.get("title", "?")
            if p.get("type") != "row":
                check_ds("panel %r" % title, p.get("datasource"))
                targets = p.get("targets") or []
                if not targets:
                    errors.append("dashboard: panel %r has no query" % title)
                for t in targets:
                    check_ds("a query of panel %r" % title, t.get("datasource", p.get("datasource")))
                    if not t.get("expr"):
                        errors.append("dashboard: panel %r has a query without expr" % title)
                    exprs.append(t.get("expr", ""))
            walk(p.get("panels") or [])

    walk(dash.get("panels", []))
    dup = sorted({i for i in ids if ids.count(i) > 1}, key=str)
    if None in ids or dup:
        errors.append("dashboard: panel ids must be present and unique (duplicates: %s)" % dup)
    return exprs


GRAFANA_VARIABLES = {
    "__rate_interval": "5m", "__interval": "1m", "__range": "1h", "__range_s": "3600",
    "job": ".+",
}


def promql_of_grafana(expr):
    """A Grafana query as plain PromQL: its $variables replaced by values of their kind."""
    def value(m):
        name = m.group(1) or m.group(2)
        return GRAFANA_VARIABLES.get(name, ".+")
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::[a-z]+)?\}|\$([A-Za-z_][A-Za-z0-9_]*)", value, expr)


def promtool_check(promtool, exprs, errors):
    """Parse every expression with `promtool check rules` (one recording rule each)."""
    queries = [e for e in exprs if e and not e.lstrip().startswith("label_values(")]
    lines = ["groups:", "  - name: dashboard", "    rules:"]
    for i, e in enumerate(queries):
        lines.append("      - record: dashboard:query_%d" % i)
        lines.append("        expr: %s" % json.dumps(promql_of_grafana(e)))
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write("\n".join(lines) + "\n")
        path = f.name
    try:
        r = subprocess.run([promtool, "check", "rules", path], capture_output=True, text=True)
    finally:
        os.unlink(path)
    if r.returncode != 0:
        errors.append("dashboard: promtool rejects a query:\n" + r.stdout + r.stderr)
    return len(queries)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alerts", default="deploy/helm/clerk-operator/files/alerts.yaml")
    ap.add_argument("--dashboard", default="deploy/helm/clerk-operator/files/dashboard.json")
    ap.add_argument("--names", default="deploy/monitoring/metric-names.txt")
    ap.add_argument("--scrape", metavar="FILE", help="a Prometheus text exposition of the operator")
    ap.add_argument("--promtool", metavar="PATH", help="parse the dashboard's queries with promtool")
    args = ap.parse_args()

    errors = []
    listed = read_names(args.names)
    known = set(listed)
    if args.scrape:
        scraped = scrape_names(args.scrape)
        for n in sorted(scraped - listed):
            errors.append("%s: %s is exposed but not in %s" % (args.scrape, n, args.names))
        missing = sorted(listed - scraped)
        if missing:
            print("monitoring-check: not in the scrape (no sample yet?): %s" % ", ".join(missing))
        known |= scraped

    with open(args.dashboard, encoding="utf-8") as f:
        try:
            dash = json.load(f)
        except json.JSONDecodeError as e:
            print("monitoring-check: %s is not JSON: %s" % (args.dashboard, e), file=sys.stderr)
            return 1
    sources = [(args.alerts, e) for e in rule_exprs(args.alerts)]
    dash_exprs = dashboard_exprs(dash, errors)
    sources += [(args.dashboard, e) for e in dash_exprs]
    parsed = promtool_check(args.promtool, dash_exprs, errors) if args.promtool else 0
    if not any(s == args.alerts for s, _ in sources):
        errors.append("%s: no expr found" % args.alerts)

    used = set()
    for source, expr in sources:
        names = metric_names(expr)
        if not names:
            errors.append("%s: no metric in %r" % (source, expr))
        for n in sorted(names):
            used.add(n)
            if n not in known and n not in PROMETHEUS_SERIES:
                errors.append("%s: %s is not a metric the operator exposes (in %r)" % (source, n, expr))

    for e in errors:
        print("monitoring-check: " + e, file=sys.stderr)
    if errors:
        return 1
    print(
        "monitoring-check: %d expressions (%s, %s) use %d metrics, all exposed"
        % (len(sources), args.alerts, args.dashboard, len(used))
    )
    if args.promtool:
        print("monitoring-check: promtool parsed the %d dashboard queries" % parsed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
