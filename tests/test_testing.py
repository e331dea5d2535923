"""The public harness (``tpns_mock.testing.MockServer``) and the pytest marker that sets it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from tpns_client import RateLimitError, RetryPolicy, TPNSClient, TPNSError
from tpns_mock.clock import ManualClock
from tpns_mock.testing import MockServer

MESSAGE = {"title": "Hi", "content": "Your order shipped"}
ONCE = RetryPolicy(attempts=1)


def test_a_mock_server_in_a_with_block_serves_records_and_cleans_up(tmp_path: Path) -> None:
    with MockServer(secret_key="harness-secret-key-0001") as mock:
        assert httpx.get(f"{mock.url}/_mock/health").json()["status"] == "ok"
        assert mock.url.startswith("http://127.0.0.1:")
        assert "harness-secret-key-0001" not in repr(mock)
        with mock.client(retry=ONCE) as tpns:
            upload_id = tpns.upload_package(["alice", "bob"]).upload_id
            push_id = tpns.push_package(upload_id, MESSAGE).push_id
            with pytest.raises(RateLimitError):  # on by default: one package push per second
                tpns.push_package(upload_id, MESSAGE)
        assert [u["uploadId"] for u in mock.uploads()] == [upload_id]
        assert mock.accounts(upload_id) == ["alice", "bob"]
        assert [p["pushId"] for p in mock.pushes()] == [push_id]
        paths = [r["path"] for r in mock.requests()]
        assert paths == ["/v3/push/app", "/v3/push/app", "/v3/push/package/upload"]
        data_dir = mock._app.state.store.data_dir
        assert data_dir.exists()
    assert not data_dir.exists(), "the throwaway data dir outlives the server"
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{mock.url}/_mock/health", timeout=2)
    with pytest.raises(RuntimeError, match="not running"):
        mock.uploads()


def test_settings_by_keyword_and_faults_by_call() -> None:
    with MockServer(rules="current", rate_limit=False, access_id="1700000001") as mock:
        assert (mock.rules, mock.access_id) == ("current", "1700000001")
        with mock.client(retry=ONCE) as tpns:
            upload_id = tpns.upload_package(["alice"]).upload_id
            for _ in range(3):  # no rate limit
                tpns.push_package(upload_id, MESSAGE)
            fault = mock.fail("/v3/push/app", 1008004, times=1, err_msg="down for a moment")
            assert (fault["retCode"], fault["times"]) == (1008004, 1)
            with pytest.raises(TPNSError) as caught:
                tpns.push_package(upload_id, MESSAGE)
            assert (caught.value.ret_code, caught.value.err_msg) == (1008004, "down for a moment")
            tpns.push_package(upload_id, MESSAGE)  # it fired once
        assert len(mock.pushes()) == 4
        mock.reset()
        assert (mock.uploads(), mock.pushes(), mock.requests()) == ([], [], [])


def test_a_manual_clock_sets_the_mocks_time() -> None:
    clock = ManualClock(1_700_000_000.0)
    # Basic auth: a signed TimeStamp comes from the wall clock, far from this mock's time
    with MockServer(clock=clock) as mock, mock.client(retry=ONCE, auth="basic") as tpns:
        upload_id = tpns.upload_package(["alice"]).upload_id
        tpns.push_package(upload_id, MESSAGE)
        with pytest.raises(RateLimitError):
            tpns.push_package(upload_id, MESSAGE)
        clock.advance(1.0)  # the slot frees on the mock's clock, not the wall clock
        tpns.push_package(upload_id, MESSAGE)
        assert mock.uploads()[0]["createdAt"].startswith("2023-11-14T22:13:20")


def test_mistakes_are_named() -> None:
    with pytest.raises(TypeError, match="unknown tpns-mock setting 'rate_limits'"):
        MockServer(rate_limits=False)
    with pytest.raises(ValueError, match="expected seed or current"):
        MockServer(rules="newest")
    with MockServer() as mock:
        with pytest.raises(ValueError, match="retCode"):
            mock.fail("/v3/push/app")
        with pytest.raises(TypeError, match="unknown fault field 'delay'"):
            mock.fail("/v3/push/app", action="delay", delay=5)


# -- the fixture and the marker ----------------------------------------------------------------


@pytest.mark.tpns_mock(rate_limit=False, rules="current")
def test_the_marker_configures_this_tests_mock(
    tpns_mock: MockServer, tpns_client: TPNSClient, tmp_path: Path
) -> None:
    assert tpns_mock.rules == "current"
    csv = tmp_path / "vips.csv"
    csv.write_text("alice\nbob\n", encoding="utf-8")
    upload_id = tpns_client.upload_package(csv).upload_id
    tpns_client.push_package(upload_id, MESSAGE)
    tpns_client.push_package(upload_id, MESSAGE)
    assert len(tpns_mock.pushes()) == 2


def test_without_the_marker_the_default_mock_answers(tpns_mock: MockServer) -> None:
    assert tpns_mock.rules == "seed"
    assert tpns_mock.pushes() == [] and tpns_mock.uploads() == []


# -- the client stands alone -------------------------------------------------------------------


def test_the_client_imports_nothing_of_the_server() -> None:
    code = (
        "import sys, tpns_client, tpns_client.cli, tpns_client.protocol.package\n"
        "from tpns_client import TPNSClient, AsyncTPNSClient\n"
        "heavy = ('tpns_mock', 'fastapi', 'uvicorn', 'starlette', 'multipart')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == "[]"


def test_the_plugin_imports_nothing_of_the_server_until_a_fixture_is_asked_for() -> None:
    code = (
        "import sys, tpns_mock.pytest_plugin\n"
        "heavy = ('fastapi', 'uvicorn', 'starlette', 'httpx', 'tpns_client')\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in heavy]\n"
        "ours = [m for m in sys.modules if m.startswith('tpns_mock.')]\n"
        "loaded += [m for m in ours if m != 'tpns_mock.pytest_plugin']\n"
        "print(sorted(loaded))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == "[]"


def test_readme_harness_example_runs_as_printed() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("```python\nfrom tpns_mock.testing import MockServer")
    block = readme[start + len("```python\n") : readme.index("```", start + 10)]
    exec(block, {})
