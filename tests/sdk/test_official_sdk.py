"""Clerk's official Python Backend API SDK (clerk-backend-api 7.x) against the fake Clerk.

The SDK parses every response into its generated pydantic models, so a shape the fake gets
wrong shows up here as `models.ResponseValidationError`, and a status code or error body the
fake gets wrong as the wrong exception class. Run with `make sdk-test` (hack/pysdk.sh), which
sets FAKE_CLERK_BIN.

How the SDK reports errors (read from clerk_backend_api/domains_sdk.py, 7.0.0): each operation
raises `models.ClerkErrors` (with `.data.errors[i].code`) only for the statuses its OpenAPI
operation declares -- add: 400/402/422, update: 400/404/422, delete: 403/404 -- and
`models.SDKError` (raw `.body`) for any other 4XX/5XX, including 401 everywhere. Both derive
from `models.ClerkBaseError`, which carries `.status_code`.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
import time
import urllib.request

import pytest
from clerk_backend_api import Clerk, models
from clerk_backend_api.utils import RetryConfig

LIVE_KEY = "sk_live_pysdk_production_instance"
TEST_KEY = "sk_test_pysdk_development_instance"
PRIMARY = "example.com"
# No retries (the SDK's default retries 5XX with backoff for up to an hour) and a bounded
# timeout, so a misbehaving fake fails a test instead of hanging it.
NO_RETRY = RetryConfig("none", None, False)
TIMEOUT_MS = 10_000


class Fake:
    def __init__(self, base_url: str, log_path: str):
        self.base_url = base_url
        self.log_path = log_path

    def client(self, key: str = LIVE_KEY) -> Clerk:
        return Clerk(
            bearer_auth=key,
            server_url=self.base_url,
            retry_config=NO_RETRY,
            timeout_ms=TIMEOUT_MS,
        )


@pytest.fixture
def fake(tmp_path):
    """A fresh fake-clerk process with one production and one development instance."""
    binary = os.environ.get("FAKE_CLERK_BIN")
    if not binary or not os.access(binary, os.X_OK):
        pytest.fail(f"FAKE_CLERK_BIN={binary!r} is not an executable; run `make sdk-test`")
    log_path = str(tmp_path / "fake-clerk.log")
    with open(log_path, "wb") as log:
        # Port 0: the fake binds a free port itself and prints its base URL on stdout,
        # so there is no pick-then-bind race with other processes on the machine.
        proc = subprocess.Popen(
            [binary, "--listen", "127.0.0.1:0", "--secret-key", LIVE_KEY, "--secret-key", TEST_KEY],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
    try:
        first_line: list[str] = []
        reader = threading.Thread(target=lambda: first_line.append(proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout=20)
        base_url = first_line[0].strip() if first_line else ""
        if not base_url.startswith("http://127.0.0.1:"):
            pytest.fail(f"fake-clerk printed no base URL (exit={proc.poll()}): {_tail(log_path)}")
        origin = base_url.removesuffix("/v1")
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{origin}/__fake/healthz", timeout=2) as r:
                    if r.status == 200 and r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"fake-clerk not healthy at {origin} (exit={proc.poll()}): {_tail(log_path)}")
            time.sleep(0.05)
        yield Fake(base_url, log_path)
    finally:
        proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()


def _tail(path: str, n: int = 2000) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read()[-n:]
    except OSError as e:
        return str(e)


def _by_id(domains: models.Domains) -> dict[str, models.Domain]:
    return {d.id: d for d in domains.data}


def _add_satellite(clerk: Clerk, name: str = "sat.example.com", proxy: str | None = None) -> models.Domain:
    request = {"name": name, "is_satellite": True}
    if proxy is not None:
        request["proxy_url"] = proxy
    return clerk.domains.add(request=request)


# --- domains.list ------------------------------------------------------------------------


def test_list_returns_the_primary_domain(fake):
    with fake.client() as clerk:
        domains = clerk.domains.list()
    assert isinstance(domains, models.Domains)
    assert domains.total_count == 1 == len(domains.data)
    primary = domains.data[0]
    assert isinstance(primary, models.Domain)
    assert primary.object == models.DomainObject.DOMAIN
    assert primary.id.startswith("dmn_")
    assert primary.name == PRIMARY
    assert primary.is_satellite is False
    assert primary.frontend_api_url == f"https://clerk.{PRIMARY}"
    assert primary.accounts_portal_url == f"https://accounts.{PRIMARY}"
    assert primary.proxy_url is None
    hosts = {t.host for t in primary.cname_targets}
    assert {f"clerk.{PRIMARY}", f"accounts.{PRIMARY}"} <= hosts
    assert all(isinstance(t, models.CNameTarget) and t.value and t.required for t in primary.cname_targets)


def test_list_on_the_development_instance(fake):
    with fake.client(TEST_KEY) as clerk:
        domains = clerk.domains.list()
    assert domains.total_count == 1
    primary = domains.data[0]
    assert primary.name == PRIMARY and primary.is_satellite is False
    assert primary.development_origin == f"http://{PRIMARY}"
    assert primary.frontend_api_url.endswith(".clerk.accounts.dev")
    assert not primary.cname_targets


def test_list_async(fake):
    async def run():
        async with fake.client() as clerk:
            return await clerk.domains.list_async()

    domains = asyncio.run(run())
    assert domains.total_count == 1 and domains.data[0].name == PRIMARY


# --- domains.add -------------------------------------------------------------------------


def test_add_satellite_with_proxy(fake):
    with fake.client() as clerk:
        added = clerk.domains.add(
            request={"name": "sat.example.com", "is_satellite": True, "proxy_url": "https://sat.example.com/__clerk"}
        )
        assert isinstance(added, models.Domain)
        assert added.id.startswith("dmn_")
        assert added.name == "sat.example.com"
        assert added.is_satellite is True
        assert added.proxy_url == "https://sat.example.com/__clerk"
        assert added.frontend_api_url == "https://sat.example.com/__clerk"
        assert added.accounts_portal_url is None  # "Null for satellite domains."
        # A satellite needs only the Frontend API CNAME (clerk.<domain>; Clerk's satellite-domains
        # guide), and a proxy replaces that one: no records at all.
        assert added.cname_targets == []

        listed = clerk.domains.list()
    assert listed.total_count == 2
    assert _by_id(listed)[added.id] == added


def test_add_satellite_without_proxy_with_typed_request(fake):
    with fake.client() as clerk:
        added = clerk.domains.add(request=models.AddDomainRequestBody(name="sat.example.com"))
    assert added.is_satellite is True
    assert added.proxy_url is None
    assert added.frontend_api_url == "https://clerk.sat.example.com"
    assert [(t.host, t.value, t.required) for t in added.cname_targets] == [
        ("clerk.sat.example.com", "frontend-api.clerk.services", True)
    ], "a satellite needs only its Frontend API CNAME"


def test_add_duplicate_name_is_422(fake):
    with fake.client() as clerk:
        _add_satellite(clerk)
        with pytest.raises(models.ClerkErrors) as e:
            _add_satellite(clerk)
    assert e.value.status_code == 422
    assert e.value.data.errors[0].code == "form_identifier_exists"


def test_add_with_proxy_on_development_instance_is_422(fake):
    with fake.client(TEST_KEY) as clerk:
        with pytest.raises(models.ClerkErrors) as e:
            _add_satellite(clerk, proxy="https://sat.example.com/__clerk")
        err = e.value
        assert err.status_code == 422
        assert isinstance(err.data, models.ClerkErrorsData)
        first = err.data.errors[0]
        assert isinstance(first, models.ClerkError)
        assert first.code == "form_param_value_invalid"
        assert first.message and first.long_message
        assert first.meta == {"param_name": "proxy_url"}
        # Nothing was created.
        assert clerk.domains.list().total_count == 1


def test_add_without_proxy_on_development_instance(fake):
    with fake.client(TEST_KEY) as clerk:
        added = _add_satellite(clerk, name="localhost:3000")
    assert added.is_satellite is True and added.name == "localhost:3000"
    assert added.development_origin == "http://localhost:3000"


# --- domains.update ----------------------------------------------------------------------


def test_update_name_proxy_and_secondary(fake):
    with fake.client() as clerk:
        added = _add_satellite(clerk, proxy="https://sat.example.com/__clerk")

        updated = clerk.domains.update(
            domain_id=added.id,
            name="sat2.example.com",
            proxy_url="https://sat2.example.com/__clerk",
            is_secondary=False,
        )
        assert isinstance(updated, models.Domain)
        assert updated.id == added.id
        assert updated.name == "sat2.example.com"
        assert updated.proxy_url == "https://sat2.example.com/__clerk"
        assert updated.frontend_api_url == "https://sat2.example.com/__clerk"
        assert updated.cname_targets == []  # proxied satellite: no CNAME records

        listed = _by_id(clerk.domains.list())
        assert listed[added.id] == updated

        # proxy_url=None is sent as JSON null and removes the proxy.
        cleared = clerk.domains.update(domain_id=added.id, proxy_url=None)
        assert cleared.name == "sat2.example.com"
        assert cleared.proxy_url is None
        assert cleared.frontend_api_url == "https://clerk.sat2.example.com"
        assert "clerk.sat2.example.com" in {t.host for t in cleared.cname_targets}
        assert _by_id(clerk.domains.list())[added.id] == cleared


def test_update_unknown_id_is_404(fake):
    with fake.client() as clerk:
        with pytest.raises(models.ClerkErrors) as e:
            clerk.domains.update(domain_id="dmn_doesnotexist", name="x.example.com")
    assert e.value.status_code == 404
    assert e.value.data.errors[0].code == "resource_not_found"


def test_update_proxy_on_development_instance_is_422(fake):
    with fake.client(TEST_KEY) as clerk:
        added = _add_satellite(clerk)
        with pytest.raises(models.ClerkErrors) as e:
            clerk.domains.update(domain_id=added.id, proxy_url="https://sat.example.com/__clerk")
    assert e.value.status_code == 422
    assert e.value.data.errors[0].code == "form_param_value_invalid"


# --- domains.delete ----------------------------------------------------------------------


def test_delete_satellite(fake):
    with fake.client() as clerk:
        added = _add_satellite(clerk)
        deleted = clerk.domains.delete(domain_id=added.id)
        assert isinstance(deleted, models.DeletedObject)
        assert deleted.deleted is True
        assert deleted.id == added.id
        assert deleted.object == "domain"
        listed = clerk.domains.list()
    assert added.id not in _by_id(listed)
    assert listed.total_count == 1 and listed.data[0].name == PRIMARY


def test_delete_unknown_id_is_404(fake):
    with fake.client() as clerk:
        with pytest.raises(models.ClerkErrors) as e:
            clerk.domains.delete(domain_id="dmn_doesnotexist")
    err = e.value
    assert err.status_code == 404
    assert err.data.errors[0].code == "resource_not_found"
    assert err.raw_response.headers.get("clerk-trace-id")
    assert json.loads(err.body)["clerk_trace_id"] == err.raw_response.headers["clerk-trace-id"]


def test_delete_primary_is_403(fake):
    with fake.client() as clerk:
        primary = clerk.domains.list().data[0]
        with pytest.raises(models.ClerkErrors) as e:
            clerk.domains.delete(domain_id=primary.id)
        assert e.value.status_code == 403
        assert e.value.data.errors[0].code
        assert clerk.domains.list().total_count == 1


# --- authentication ----------------------------------------------------------------------


@pytest.mark.parametrize("call", ["list", "add", "delete", "instance"])
def test_wrong_key_is_401(fake, call):
    # The SDK declares no 401 body for these operations, so it raises the generic
    # SDKError (a ClerkBaseError) carrying the status and the raw ClerkErrors body.
    with fake.client("sk_live_wrong") as clerk:
        with pytest.raises(models.SDKError) as e:
            if call == "list":
                clerk.domains.list()
            elif call == "add":
                _add_satellite(clerk)
            elif call == "delete":
                clerk.domains.delete(domain_id="dmn_whatever")
            else:
                clerk.instance_settings.get()
    err = e.value
    assert isinstance(err, models.ClerkBaseError)
    assert err.status_code == 401
    body = models.ClerkErrorsData.model_validate_json(err.body)
    assert body.errors[0].code == "authentication_invalid"


# --- instance_settings.get (GET /instance) -------------------------------------------------


@pytest.mark.parametrize(("key", "environment"), [(LIVE_KEY, "production"), (TEST_KEY, "development")])
def test_instance_settings_get(fake, key, environment):
    with fake.client(key) as clerk:
        instance = clerk.instance_settings.get()
    assert isinstance(instance, models.Instance)
    assert instance.object == models.InstanceObject.INSTANCE
    assert instance.id.startswith("ins_")
    assert instance.environment_type == environment
    assert instance.allowed_origins is None
