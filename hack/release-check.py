#!/usr/bin/env python3
"""Checks of release artefacts (Python 3 standard library only).

  release-check.py chart TGZ VERSION [--image-repository REPO]
      The packaged chart: Chart.yaml has `version: VERSION` and `appVersion: VERSION` (quoted
      or not), and values.yaml the image repository when one is given.
  release-check.py sbom CARGO_LOCK SBOM.json...
      Every crate of Cargo.lock that comes from a registry is a component (pkg:cargo purl with
      its version) of one of the CycloneDX SBOMs, except the crates that only tests use: those
      reachable from the workspace's packages through dev-dependencies alone (cargo metadata,
      every target platform and feature), which ship in no build and which cargo-cyclonedx
      leaves out. They are listed by count, and any other missing crate fails the check.
"""

import json
import os
import re
import subprocess
import sys
import tarfile
import tomllib
import urllib.parse


def fail(msg):
    print("release-check: " + msg, file=sys.stderr)
    sys.exit(1)


def yaml_scalar(text, key, indent=""):
    m = re.search(r"^%s%s:\s*(.*?)\s*$" % (re.escape(indent), re.escape(key)), text, re.M)
    if not m:
        return None
    v = m.group(1)
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
        v = v[1:-1]
    return v


def check_chart(tgz, version, image=None):
    version = version[1:] if version.startswith("v") else version
    with tarfile.open(tgz) as t:
        def read(name):
            try:
                return t.extractfile("clerk-operator/" + name).read().decode()
            except KeyError:
                fail("%s has no clerk-operator/%s" % (tgz, name))
        chart = read("Chart.yaml")
        values = read("values.yaml")
        names = t.getnames()
    for key in ("version", "appVersion"):
        got = yaml_scalar(chart, key)
        if got != version:
            fail("%s: Chart.yaml %s is %r, not %r" % (tgz, key, got, version))
    if image is not None:
        got = yaml_scalar(values, "repository", "  ")
        if got != image:
            fail("%s: values.yaml image repository is %r, not %r" % (tgz, got, image))
    if image is not None and ("image: %s:%s" % (image, version)) not in chart:
        fail("%s: Chart.yaml has no artifacthub.io/images entry %s:%s" % (tgz, image, version))
    for needed in ("files/alerts.yaml", "files/dashboard.json", "values.schema.json",
                   "templates/prometheusrule.yaml", "templates/grafana-dashboard.yaml"):
        if "clerk-operator/" + needed not in names:
            fail("%s lacks %s" % (tgz, needed))
    print("release-check: %s has version and appVersion %s (%d files)" % (tgz, version, len(names)))


def components(doc):
    stack = list(doc.get("components", []))
    meta = doc.get("metadata", {}).get("component")
    if meta:
        stack.append(meta)
    while stack:
        c = stack.pop()
        yield c
        stack.extend(c.get("components", []))


def shipped_packages(manifest_dir):
    """(name, version) of every package the workspace's packages reach without dev-dependencies."""
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked", "--all-features"],
        cwd=manifest_dir, check=True, capture_output=True, text=True,
    ).stdout
    meta = json.loads(out)
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    by_id = {p["id"]: (p["name"], p["version"]) for p in meta["packages"]}
    seen = set()
    stack = list(meta["workspace_members"])
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        for dep in nodes[pid].get("deps", []):
            kinds = {k.get("kind") for k in dep.get("dep_kinds", [])}
            if kinds - {"dev"}:
                stack.append(dep["pkg"])
    return {by_id[i] for i in seen}


def check_sbom(lock_path, sboms):
    with open(lock_path, "rb") as f:
        lock = tomllib.load(f)
    registry = {(p["name"], p["version"]) for p in lock.get("package", [])
                if p.get("source", "").startswith(("registry+", "sparse+"))}
    shipped = shipped_packages(os.path.dirname(os.path.abspath(lock_path)))
    wanted = registry & shipped
    dev_only = registry - shipped
    found = set()
    total = 0
    for path in sboms:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        if doc.get("bomFormat") != "CycloneDX":
            fail("%s is not a CycloneDX JSON document" % path)
        for c in components(doc):
            total += 1
            purl = c.get("purl", "")
            m = re.match(r"^pkg:cargo/([^@?#]+)@([^?#]+)", purl)
            if m:
                found.add((urllib.parse.unquote(m.group(1)), urllib.parse.unquote(m.group(2))))
    missing = sorted(wanted - found)
    listed_dev = sorted(dev_only & found)
    for name, version in missing:
        print("release-check: %s %s (Cargo.lock) is not in the SBOM" % (name, version), file=sys.stderr)
    if missing:
        fail("%d of %d registry crates of %s are missing from %s" % (len(missing), len(wanted), lock_path, ", ".join(sboms)))
    print("release-check: %d registry crates in %s: all %d that builds use are in the SBOM (%d components "
          "in %d documents); %d reached only through dev-dependencies (%d of them listed anyway)"
          % (len(registry), lock_path, len(wanted), total, len(sboms), len(dev_only), len(listed_dev)))


def main(argv):
    if len(argv) >= 3 and argv[0] == "chart":
        image = None
        rest = argv[3:]
        if rest[:1] == ["--image-repository"] and len(rest) == 2:
            image = rest[1]
        elif rest:
            fail("usage: release-check.py chart TGZ VERSION [--image-repository REPO]")
        check_chart(argv[1], argv[2], image)
    elif len(argv) >= 3 and argv[0] == "sbom":
        check_sbom(argv[1], argv[2:])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
