#!/usr/bin/env python3
"""Checks of release artefacts (Python 3 standard library only).

  release-check.py chart TGZ VERSION [--image-repository REPO]
      The packaged chart: Chart.yaml has `version: VERSION` and `appVersion: VERSION` (quoted
      or not), and values.yaml the image repository when one is given.
  release-check.py sbom CARGO_LOCK SBOM.json...
      Every crate of Cargo.lock that comes from a registry is a component (pkg:cargo purl with
      its version) of one of the CycloneDX SBOMs.
"""

import json
import re
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


def check_sbom(lock_path, sboms):
    with open(lock_path, "rb") as f:
        lock = tomllib.load(f)
    wanted = {(p["name"], p["version"]) for p in lock.get("package", [])
              if p.get("source", "").startswith(("registry+", "sparse+"))}
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
    for name, version in missing:
        print("release-check: %s %s (Cargo.lock) is not in the SBOM" % (name, version), file=sys.stderr)
    if missing:
        fail("%d of %d registry crates of %s are missing from %s" % (len(missing), len(wanted), lock_path, ", ".join(sboms)))
    print("release-check: all %d registry crates of %s are in the SBOM (%d components in %d documents)"
          % (len(wanted), lock_path, total, len(sboms)))


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
