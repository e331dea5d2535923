"""The contract suite itself: it passes against a real ``tpns-mock`` process, refuses to start
against Tencent without credentials, and its recordings catch a changed answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from conftest import start_server

pytestmark = pytest.mark.slow  # runs the contract suite in subprocesses

ROOT = Path(__file__).resolve().parent.parent
CREDENTIALS = ("TPNS_ACCESS_ID", "TPNS_SECRET_KEY", "TPNS_ACCESS_ID_2", "TPNS_SECRET_KEY_2")
SECOND_APP = ("1500000002", "contract-second-app-key")


def run_suite(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **(env or {})}
    for name in CREDENTIALS:
        if env is None or name not in env:
            environment.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "contract_tests", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_contract_suite_passes_against_a_running_tpns_mock(tmp_path: Path) -> None:
    # started as .ci/run starts it: with a second app, whose pair the suite reads from the
    # environment, so the "another app's upload" contracts run too
    server = start_server(
        tmp_path / "data", env={"TPNS_MOCK_APPS": f"{SECOND_APP[0]}:{SECOND_APP[1]}"}
    )
    try:
        result = run_suite(
            "--tpns-url",
            server.url,
            "-rs",
            env={"TPNS_ACCESS_ID_2": SECOND_APP[0], "TPNS_SECRET_KEY_2": SECOND_APP[1]},
        )
    finally:
        server.stop()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout
    assert "skipped" not in result.stdout, result.stdout[-2000:]


def test_real_target_without_credentials_fails_at_once_naming_both_variables() -> None:
    result = run_suite("--tpns-url", "https://api.tpns.tencent.com", "--tpns-real")
    assert result.returncode == 4, result.stdout + result.stderr  # pytest's usage error
    assert "TPNS_ACCESS_ID" in result.stderr and "TPNS_SECRET_KEY" in result.stderr
    assert "passed" not in result.stdout


def test_real_target_with_one_credential_names_the_missing_one() -> None:
    result = run_suite("--tpns-real", env={"TPNS_ACCESS_ID": "1500000001"})
    assert result.returncode == 4
    assert "not set: TPNS_SECRET_KEY" in result.stderr


def test_recording_against_the_mock_then_a_changed_shape_fails(tmp_path: Path) -> None:
    recordings = tmp_path / "recordings"
    selection = ["-k", "test_success_has_exactly or test_wrong_secret_is_1008003"]
    recorded = run_suite("--tpns-record", "--tpns-recordings", str(recordings), *selection)
    assert recorded.returncode == 0, recorded.stdout[-3000:]
    files = sorted(p.name for p in recordings.iterdir())
    assert "test_schema.test_success_has_exactly_retcode_errmsg_uploadid.json" in files
    assert len(files) == 3  # one success, wrong secret both ways

    replayed = run_suite("--tpns-recordings", str(recordings), *selection)
    assert replayed.returncode == 0, replayed.stdout[-3000:]

    # Tencent (say) answers with one more key and uploadId as a string: the mock must follow
    path = recordings / "test_schema.test_success_has_exactly_retcode_errmsg_uploadid.json"
    data = json.loads(path.read_text())
    body = data["answers"][0]["body"]
    assert body["uploadId"] == "<uploadId:int>"
    body["uploadId"] = "<uploadId:str>"
    body["requestId"] = "abc"
    path.write_text(json.dumps(data))
    tampered = run_suite("--tpns-recordings", str(recordings), *selection)
    assert tampered.returncode == 1, tampered.stdout[-3000:]
    assert "1 failed" in tampered.stdout
    assert "do not match the recording" in tampered.stdout
    assert "requestId: recorded but missing now" in tampered.stdout
    assert "uploadId: '<uploadId:int>', recorded '<uploadId:str>'" in tampered.stdout


def test_a_failing_contract_test_does_not_print_the_secret(tmp_path: Path) -> None:
    """pytest prints a failing test's fixtures; against Tencent the target holds the real key."""
    secret = "secret-never-printed"
    # the mock knows the pair (the suite checks that up front), but with no TimeStamp window
    # the signed request in the test body fails, with the fixtures on show
    server = start_server(tmp_path / "data", "--secret-key", secret, "--timestamp-window", "0")
    try:
        result = run_suite(
            "--tpns-url",
            server.url,
            "-k",
            "test_success_has_exactly",
            env={"TPNS_ACCESS_ID": "1500000001", "TPNS_SECRET_KEY": secret},
        )
    finally:
        server.stop()
    assert result.returncode == 1, result.stdout[-3000:]
    assert "api = Api(" in result.stdout  # it failed in the test body, fixtures on show
    assert secret not in result.stdout + result.stderr


def test_a_test_without_a_recording_fails_against_the_mock(tmp_path: Path) -> None:
    empty = tmp_path / "recordings"
    empty.mkdir()
    result = run_suite("--tpns-recordings", str(empty), "-k", "test_success_has_exactly")
    assert result.returncode == 1, result.stdout[-3000:]
    assert "no recording test_schema.test_success_has_exactly" in result.stdout


def test_a_changed_retcode_in_a_recording_fails(tmp_path: Path) -> None:
    recordings = tmp_path / "recordings"
    selection = ["-k", "test_wrong_secret_is_1008003 and basic"]
    recorded = run_suite("--tpns-record", "--tpns-recordings", str(recordings), *selection)
    assert recorded.returncode == 0, recorded.stdout[-3000:]
    (path,) = recordings.iterdir()
    data = json.loads(path.read_text())
    data["answers"][0]["body"]["retCode"] = 10030002  # "AccessID and AccessKey do not match"
    data["target"] = "tencent"
    path.write_text(json.dumps(data))
    result = run_suite("--tpns-recordings", str(recordings), *selection)
    assert result.returncode == 1
    assert "retCode: 1008003, recorded 10030002" in result.stdout


def test_committed_recordings_were_made_against_the_mock() -> None:
    recordings = sorted((ROOT / "contract_tests" / "recordings").glob("*.json"))
    assert len(recordings) >= 60
    for path in recordings:
        data = json.loads(path.read_text())
        assert data["target"] == "mock", path.name
        assert data["answers"], path.name


def test_a_url_that_is_no_tpns_mock_is_refused_at_once(tmp_path: Path) -> None:
    from conftest import free_port

    result = run_suite("--tpns-url", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 4, result.stdout + result.stderr
    assert "no tpns-mock answers there" in result.stderr


def test_a_mock_with_other_settings_stops_the_suite_at_once_naming_each(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--rules", "current", "--no-rate-limit")
    try:
        result = run_suite("--tpns-url", server.url)
    finally:
        server.stop()
    assert result.returncode == 4, result.stdout[-3000:]  # pytest's usage error: nothing ran
    assert "rules is 'current', the suite expects seed" in result.stderr
    assert "rateLimit is False, the suite expects on" in result.stderr
    assert "timestampWindow" not in result.stderr  # only what differs is named
    assert "passed" not in result.stdout and "failed" not in result.stdout


def test_an_app_unknown_to_the_target_is_reported_up_front(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")  # knows only its built-in app
    try:
        result = run_suite(
            "--tpns-url",
            server.url,
            env={"TPNS_ACCESS_ID_2": SECOND_APP[0], "TPNS_SECRET_KEY_2": SECOND_APP[1]},
        )
        journal = httpx.get(f"{server.url}/_mock/requests").json()
    finally:
        server.stop()
    assert result.returncode == 4, result.stdout[-3000:]
    assert f"TPNS_ACCESS_ID_2 / TPNS_SECRET_KEY_2 (AccessId {SECOND_APP[0]})" in result.stderr
    assert "TPNS_ACCESS_ID / TPNS_SECRET_KEY" not in result.stderr  # the first app is known
    assert SECOND_APP[1] not in result.stdout + result.stderr
    assert journal["total"] == 0  # the probes were reset away
