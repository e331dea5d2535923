"""The ``tpns_mock`` / ``tpns_client`` fixtures an app's tests get by installing tpns-mock."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from client import TPNSClient
from client.pytest_plugin import TPNSMock

ROOT = Path(__file__).resolve().parent.parent


def test_tpns_mock_is_live_and_its_helpers_see_uploads(tpns_mock: TPNSMock) -> None:
    assert httpx.get(f"{tpns_mock.url}/_mock/health").json()["status"] == "ok"
    assert tpns_mock.secret_key not in repr(tpns_mock)
    with tpns_mock.client(auth="basic") as tpns:
        upload_id = tpns.upload_package(["alice", "bob"]).upload_id
    assert [u["uploadId"] for u in tpns_mock.uploads()] == [upload_id]
    assert tpns_mock.accounts(upload_id) == ["alice", "bob"]
    assert tpns_mock.upload(upload_id)["accountCount"] == 2


def test_each_test_starts_with_no_uploads(tpns_mock: TPNSMock, tpns_client: TPNSClient) -> None:
    # the previous test uploaded to the same session server
    assert tpns_mock.uploads() == []
    tpns_client.upload_package(["carol"])
    assert len(tpns_mock.uploads()) == 1


def test_readme_example_runs_as_an_app_developers_test(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("```python\n# test_vips.py")
    example = readme[start + len("```python\n") : readme.index("```", start + 10)]
    assert len(example.strip().splitlines()) <= 12
    (tmp_path / "test_vips.py").write_text(example, encoding="utf-8")
    env = {**os.environ, "TPNS_MOCK_SECRET_KEY": "app-test-secret-key"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_vips.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
