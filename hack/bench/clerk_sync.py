#!/usr/bin/env python3
"""clerk_sync.py - what a user runs instead of the operator: a Clerk domain sync for CI or a CronJob.

Written as a competent user would write it with Clerk's official Python SDK
(`clerk-backend-api`, the version pinned in hack/requirements-sdk.txt), not raw HTTP:

  1. read the desired state (a JSON file, see below);
  2. list the instance's domains once;
  3. add the satellites that are missing;
  4. update the ones that differ, sending only the fields that differ;
  5. delete the satellites that are not in the desired state (never the primary);
  6. print a JSON summary on stdout and exit 1 if anything failed (so CI / the Job shows it).

One domain's failure does not stop the others; the next scheduled run picks up what is left.

Desired state:

    {"domains": [{"name": "a.example.com", "is_satellite": true,
                  "proxy_url": null, "is_secondary": null}, ...]}

`proxy_url` null (or absent) means DNS (CNAME) setup, so a proxy found in Clerk is removed;
`is_secondary` null (or absent) means "not managed". Domains are matched by name (Clerk refuses a
second domain with the same name), so renaming one in the file means delete + add (a new ID).

Limits that follow from Clerk's API, not from the script:
  * `GET /domains` has no limit/offset (the SDK's `domains.list()` takes none); the response's
    `total_count` is checked against what came back, in case Clerk ever paginates it;
  * Clerk does not report `is_secondary`, so a desired `is_secondary` cannot be compared and is
    sent on every run (one PATCH per run per such domain). The operator keeps the value it last
    sent in `status.appliedIsSecondary` instead.

Retries (`--retries`):
  default     the SDK's own default: exponential backoff (0.5 s x 1.5^n, at most 60 s apart, for
              up to an hour) on 5XX and on connection errors only; a 429 is raised at once
              (clerk_backend_api/domains_sdk.py: `retry_config = (retries, ["5XX"])`);
  configured  the same backoff, also on 429; the SDK then sleeps the `Retry-After` the answer
              carries (utils/retries.py).

Environment: CLERK_SECRET_KEY (required), CLERK_API_URL (default https://api.clerk.com/v1).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter

import httpx
from clerk_backend_api import Clerk, models
from clerk_backend_api.utils import BackoffStrategy, RetryConfig

MAX_ERRORS_LISTED = 20


def retry_config(kind: str):
    if kind == "default":
        return None  # leave the SDK's default in place
    if kind == "configured":
        return RetryConfig(
            "backoff",
            BackoffStrategy(500, 60_000, 1.5, 3_600_000),
            True,
            status_codes_override=["429", "5XX"],
        )
    raise SystemExit(f"--retries must be default or configured, not {kind!r}")


def load_desired(path: str) -> list[dict]:
    with open(path) as f:
        doc = json.load(f)
    out = []
    seen = set()
    for d in doc.get("domains", []):
        name = str(d["name"]).strip().lower()
        if name in seen:
            raise SystemExit(f"{path}: {name} is listed twice")
        seen.add(name)
        out.append(
            {
                "name": name,
                "is_satellite": bool(d.get("is_satellite", True)),
                "proxy_url": d.get("proxy_url") or None,
                "is_secondary": d.get("is_secondary"),
            }
        )
    return out


class Sync:
    def __init__(self, clerk: Clerk):
        self.clerk = clerk
        self.counts = Counter()
        self.errors: list[dict] = []
        self.error_kinds = Counter()

    def fail(self, op: str, name: str, e: Exception) -> None:
        self.counts["failed"] += 1
        status = getattr(e, "status_code", None)
        code = None
        if isinstance(e, models.ClerkErrors) and e.data.errors:
            code = e.data.errors[0].code
        kind = f"{op} {status or type(e).__name__}" + (f" {code}" if code else "")
        self.error_kinds[kind] += 1
        if len(self.errors) < MAX_ERRORS_LISTED:
            self.errors.append({"op": op, "name": name, "status": status, "code": code, "error": str(e)[:300]})

    def run(self, desired: list[dict]) -> bool:
        try:
            listed = self.clerk.domains.list()
        except Exception as e:  # nothing can be decided without the list
            self.fail("list", "*", e)
            return False
        current = {d.name: d for d in listed.data}
        self.counts["listed"] = len(listed.data)
        if listed.total_count > len(listed.data):
            self.fail("list", "*", RuntimeError(f"got {len(listed.data)} of {listed.total_count} domains"))
            return False
        for want in desired:
            have = current.get(want["name"])
            try:
                if have is None:
                    self.add(want)
                else:
                    self.update(want, have)
            except Exception as e:
                self.fail("add" if have is None else "update", want["name"], e)
        wanted = {w["name"] for w in desired}
        for name, have in current.items():
            if have.is_satellite and name not in wanted:
                try:
                    self.clerk.domains.delete(domain_id=have.id)
                    self.counts["deleted"] += 1
                except models.ClerkBaseError as e:
                    if e.status_code == 404:  # already gone
                        self.counts["deleted"] += 1
                    else:
                        self.fail("delete", name, e)
                except Exception as e:
                    self.fail("delete", name, e)
        return self.counts["failed"] == 0

    def add(self, want: dict) -> None:
        if not want["is_satellite"]:
            raise RuntimeError("the primary domain is not in Clerk and cannot be created through the API")
        request = {"name": want["name"], "is_satellite": True}
        if want["proxy_url"]:
            request["proxy_url"] = want["proxy_url"]
        created = self.clerk.domains.add(request=request)
        self.counts["created"] += 1
        if want["is_secondary"] is not None:
            self.clerk.domains.update(domain_id=created.id, is_secondary=want["is_secondary"])

    def update(self, want: dict, have: models.Domain) -> None:
        if want["is_satellite"] != have.is_satellite:
            raise RuntimeError(f"is_satellite is {have.is_satellite} in Clerk and cannot be changed")
        changes = {}
        if (want["proxy_url"] or None) != (have.proxy_url or None):
            changes["proxy_url"] = want["proxy_url"]  # None removes the proxy
        if want["is_secondary"] is not None:
            changes["is_secondary"] = want["is_secondary"]  # not reported by Clerk: always sent
        if not changes:
            self.counts["unchanged"] += 1
            return
        self.clerk.domains.update(domain_id=have.id, **changes)
        self.counts["updated"] += 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--desired", required=True, help="desired state, JSON")
    p.add_argument("--retries", default="default", choices=["default", "configured"])
    p.add_argument("--timeout-ms", type=int, default=15_000, help="per request")
    args = p.parse_args()
    key = os.environ.get("CLERK_SECRET_KEY")
    if not key:
        print("CLERK_SECRET_KEY is not set", file=sys.stderr)
        return 2
    desired = load_desired(args.desired)
    requests = Counter()

    def count(request: httpx.Request) -> None:
        requests[request.method] += 1

    http = httpx.Client(follow_redirects=True, event_hooks={"request": [count]})
    options = {}
    rc = retry_config(args.retries)
    if rc is not None:
        options["retry_config"] = rc
    start = time.monotonic()
    with Clerk(
        bearer_auth=key,
        server_url=os.environ.get("CLERK_API_URL", "https://api.clerk.com/v1"),
        client=http,
        timeout_ms=args.timeout_ms,
        **options,
    ) as clerk:
        sync = Sync(clerk)
        ok = sync.run(desired)
    summary = {
        "ok": ok,
        "retries": args.retries,
        "desired": len(desired),
        "seconds": round(time.monotonic() - start, 3),
        "requests": sum(requests.values()),
        "requests_by_method": dict(requests),
        **{k: sync.counts.get(k, 0) for k in ("listed", "created", "updated", "unchanged", "deleted", "failed")},
        "error_kinds": dict(sync.error_kinds),
        "errors": sync.errors,
    }
    print(json.dumps(summary), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
