"""Picks the contract suite's target; the test bodies never know which one they run against.

- default: tpns-mock in-process, through httpx's ASGI transport (no port, a throwaway data dir);
- ``--tpns-url http://localhost:8080``: a running tpns-mock (credentials: ``TPNS_ACCESS_ID`` /
  ``TPNS_SECRET_KEY`` if set, else the mock's defaults);
- ``--tpns-url https://api.tpns.tencent.com --tpns-real``: Tencent, with ``TPNS_ACCESS_ID`` /
  ``TPNS_SECRET_KEY`` from the environment (required). Tests marked ``mock_only`` (they read
  ``/_mock/``) are skipped; tests marked ``push`` run only with ``--tpns-allow-push``.

A second app (for "another app's upload" contracts): in-process the mock is made with two apps;
against a running mock or Tencent its pair comes from ``TPNS_ACCESS_ID_2`` / ``TPNS_SECRET_KEY_2``,
and the tests that need it are skipped when those are not set.

Every TPNS answer goes through :class:`RecordingTransport`, so ``--tpns-record`` and the parity
check (see ``recording.py``) cover raw requests and the client's alike.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
import pytest

from contract_tests.raw import Api
from contract_tests.recording import Recorder, file_name

MOCK_ACCESS_ID = "1500000001"
MOCK_SECRET_KEY = "tpns-mock-secret-key"
MOCK_ACCESS_ID_2 = "1500000002"
MOCK_SECRET_KEY_2 = "tpns-mock-second-app-key"
TENCENT_URL = "https://api.tpns.tencent.com"
RECORDINGS = Path(__file__).parent / "recordings"
RECORDER = pytest.StashKey[Recorder]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tpns", "TPNS contract suite")
    group.addoption("--tpns-url", help="run against this server instead of an in-process mock")
    group.addoption(
        "--tpns-real",
        action="store_true",
        help="the target is Tencent (needs TPNS_ACCESS_ID and TPNS_SECRET_KEY)",
    )
    group.addoption(
        "--tpns-allow-push", action="store_true", help="run tests that send a real push"
    )
    group.addoption(
        "--tpns-record", action="store_true", help="write each test's answers as a recording"
    )
    group.addoption(
        "--tpns-recordings",
        type=Path,
        default=RECORDINGS,
        help="where recordings are read and written (default contract_tests/recordings)",
    )


# what the suite's expectations assume of a mock's settings, as /_mock/health reports them:
# (the check, what is expected, how to start the mock so)
EXPECTED_SETTINGS = {
    "rules": (lambda v: v == "seed", "seed", "--rules seed (TPNS_MOCK_RULES=seed)"),
    "rateLimit": (lambda v: v is True, "on", "without --no-rate-limit (TPNS_MOCK_RATE_LIMIT=1)"),
    "pushInterval": (lambda v: v == 1, "1 s", "TPNS_MOCK_PUSH_INTERVAL=1"),
    "timestampWindow": (lambda v: v < 3600, "under 3600 s", "--timestamp-window 600"),
    "journalSize": (lambda v: v > 0, "on (above 0)", "--journal-size 1000"),
    "maxUploadBytes": (lambda v: v == 104857600, "100 MiB", "TPNS_MOCK_MAX_UPLOAD_BYTES unset"),
    "maxInflatedBytes": (lambda v: v < 2 * 1024**3, "under 2 GiB", "--max-inflated-bytes"),
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "mock_only: reads /_mock/; skipped against Tencent")
    config.addinivalue_line("markers", "push: sends a push; against Tencent only with allow-push")
    url = config.getoption("--tpns-url")
    if url and not config.getoption("--tpns-real"):
        health = _require_a_mock(url)
        _require_expected_settings(url, health)
        _require_known_apps(url)
    if config.getoption("--tpns-real"):
        missing = [n for n in ("TPNS_ACCESS_ID", "TPNS_SECRET_KEY") if not os.environ.get(n)]
        if missing:
            raise pytest.UsageError(
                "--tpns-real needs the app's credentials in TPNS_ACCESS_ID and TPNS_SECRET_KEY "
                f"(not set: {', '.join(missing)})"
            )


def _require_a_mock(url: str) -> dict[str, object]:
    """Without --tpns-real the target must be a tpns-mock: the suite inspects and resets it."""
    health = url.rstrip("/") + "/_mock/health"
    try:
        answer = httpx.get(health, timeout=10)
        ok = answer.status_code == 200 and answer.json().get("status") == "ok"
    except (httpx.HTTPError, ValueError) as exc:
        raise pytest.UsageError(f"--tpns-url {url}: no tpns-mock answers there ({exc})") from None
    if not ok:
        raise pytest.UsageError(
            f"--tpns-url {url} is not a tpns-mock (GET /_mock/health answered "
            f"{answer.status_code}); for Tencent add --tpns-real"
        )
    return dict(answer.json())


def _require_expected_settings(url: str, health: dict[str, object]) -> None:
    """Stop at once, naming each setting of the target that the suite's expectations do not fit
    (a setting an older mock does not report is not checked)."""
    wrong = [
        f"{name} is {health[name]!r}, the suite expects {expected}: start it with {fix}"
        for name, (fits, expected, fix) in EXPECTED_SETTINGS.items()
        if name in health and not fits(health[name])
    ]
    if wrong:
        raise pytest.UsageError(
            f"--tpns-url {url}: the mock's settings differ from what the contract suite "
            "expects:\n  " + "\n  ".join(wrong)
        )


def _require_known_apps(url: str) -> None:
    """Each app the suite will use must be one of the target's: an unknown pair is reported
    here, once, instead of as failing tests. Probed with an empty push (refused after auth,
    stores nothing, takes no rate-limit slot); the mock is reset afterwards."""
    apps = [("TPNS_ACCESS_ID / TPNS_SECRET_KEY", *_first_app())]
    second = second_app_from_env()
    if second is not None:
        apps.append(("TPNS_ACCESS_ID_2 / TPNS_SECRET_KEY_2", *second))
    unknown = []
    with httpx.Client(base_url=url.rstrip("/"), timeout=10) as http:
        for names, access_id, secret_key in apps:
            answer = http.post("/v3/push/app", json={}, auth=(access_id, secret_key))
            if answer.status_code == 403:
                unknown.append(f"{names} (AccessId {access_id})")
        http.post("/_mock/reset")
    if unknown:
        raise pytest.UsageError(
            f"--tpns-url {url}: the target does not know the app(s) "
            + "; ".join(unknown)
            + ". Start the mock with the same pair (TPNS_MOCK_ACCESS_ID / TPNS_MOCK_SECRET_KEY, "
            "or TPNS_MOCK_APPS=ACCESS_ID:SECRET_KEY for the second app), or unset the variables"
        )


def _first_app() -> tuple[str, str]:
    """The pair the suite uses against a running mock: the environment's, else the mock's."""
    return (
        os.environ.get("TPNS_ACCESS_ID") or MOCK_ACCESS_ID,
        os.environ.get("TPNS_SECRET_KEY") or MOCK_SECRET_KEY,
    )


@dataclass(frozen=True)
class Target:
    kind: str  # "in-process", "mock" (a running one) or "tencent"
    url: str
    access_id: str
    # kept out of the repr: pytest prints a failing test's fixtures, and against Tencent this
    # is the real key
    secret_key: str = field(repr=False)
    # the second app's pair, or None when the environment gives none
    second_app: tuple[str, str] | None = field(default=None, repr=False)

    @property
    def real(self) -> bool:
        return self.kind == "tencent"

    @property
    def mock(self) -> bool:
        """A tpns-mock (in-process or running): ``/_mock/`` is there to inspect and reset."""
        return self.kind != "tencent"


def second_app_from_env() -> tuple[str, str] | None:
    access_id = os.environ.get("TPNS_ACCESS_ID_2")
    secret_key = os.environ.get("TPNS_SECRET_KEY_2")
    return (access_id, secret_key) if access_id and secret_key else None


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def target(pytestconfig: pytest.Config) -> Target:
    url = pytestconfig.getoption("--tpns-url")
    if pytestconfig.getoption("--tpns-real"):
        return Target(
            "tencent",
            (url or TENCENT_URL).rstrip("/"),
            os.environ["TPNS_ACCESS_ID"],
            os.environ["TPNS_SECRET_KEY"],
            second_app_from_env(),
        )
    access_id, secret_key = _first_app()
    if url:
        return Target("mock", url.rstrip("/"), access_id, secret_key, second_app_from_env())
    return Target(
        "in-process",
        "http://tpns-mock",
        MOCK_ACCESS_ID,
        MOCK_SECRET_KEY,
        (MOCK_ACCESS_ID_2, MOCK_SECRET_KEY_2),
    )


@pytest.fixture(scope="session")
def asgi_app(target: Target, tmp_path_factory: pytest.TempPathFactory) -> object | None:
    if target.kind != "in-process":
        return None
    from tpns_mock.app import create_app
    from tpns_mock.settings import Settings

    # create_app opens the store at once, so the ASGI transport needs no lifespan
    data_dir = tmp_path_factory.mktemp("contract-mock-data")
    apps = {MOCK_ACCESS_ID: MOCK_SECRET_KEY, MOCK_ACCESS_ID_2: MOCK_SECRET_KEY_2}
    return create_app(replace(Settings(), data_dir=data_dir, apps=apps))


class RecordingTransport(httpx.AsyncBaseTransport):
    """Passes requests to the target and shows each TPNS answer to the test's recorder."""

    def __init__(self, inner: httpx.AsyncBaseTransport, recorder: Recorder) -> None:
        self.inner = inner
        self.recorder = recorder

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path.startswith("/_mock/"):
            return response
        content = await response.aread()
        await response.aclose()
        self.recorder.add(request.method, request.url.path, response.status_code, content)
        headers = [
            (k, v)
            for k, v in response.headers.multi_items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(response.status_code, headers=headers, content=content)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
def recorder(request: pytest.FixtureRequest, target: Target) -> Recorder:
    config = request.config
    directory: Path = config.getoption("--tpns-recordings")
    made = Recorder(
        directory / file_name(request.node.nodeid),
        "tencent" if target.real else "mock",
        record=config.getoption("--tpns-record"),
        # against Tencent a missing recording is expected until one is made; against the mock
        # every test that gets answers has one committed
        require=not target.real,
    )
    request.node.stash[RECORDER] = made
    return made


@pytest.fixture
def transport(target: Target, asgi_app: object | None, recorder: Recorder) -> RecordingTransport:
    """The transport to the target; pass it to a client as ``transport=``."""
    inner: httpx.AsyncBaseTransport = (
        httpx.ASGITransport(app=asgi_app)  # type: ignore[arg-type]
        if asgi_app is not None
        else httpx.AsyncHTTPTransport(retries=0)
    )
    return RecordingTransport(inner, recorder)


@pytest.fixture
async def api(target: Target, transport: RecordingTransport) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(base_url=target.url, transport=transport, timeout=120) as http:
        yield Api(http, target.access_id, target.secret_key)


@pytest.fixture
async def other_api(target: Target, api: Api) -> Api:
    """Raw requests as the second app (skipped when the target has none configured)."""
    if target.second_app is None:
        pytest.skip("needs a second app: set TPNS_ACCESS_ID_2 and TPNS_SECRET_KEY_2")
    return Api(api.http, *target.second_app)


@pytest.fixture(autouse=True)
def _target_markers(request: pytest.FixtureRequest, target: Target) -> None:
    if target.real and request.node.get_closest_marker("mock_only"):
        pytest.skip("reads /_mock/ inspection, which Tencent does not have")
    if (
        target.real
        and request.node.get_closest_marker("push")
        and not request.config.getoption("--tpns-allow-push")
    ):
        pytest.skip("sends a push to real devices; run with --tpns-allow-push")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """After a passing test body, write its recording or compare with the one present."""
    result = yield
    recorder = item.stash.get(RECORDER, None)
    if recorder is not None:
        recorder.finish()
    return result
