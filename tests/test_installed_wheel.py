"""The built wheel, installed into a fresh venv beside an app that has its own ``client.py``,
``mock_server.py`` and ``conftest.py``: the app's test run, with both ``python -m pytest`` and
``pytest``, uses the fixture, the marker and the helpers, and the app's modules stay its own."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

APP_FILES = {
    "client.py": """
        # the app's own module, named like many apps' modules
        WHO = "the app's client"


        def upload_vips(tpns, customers):
            return tpns.upload_package(c["account"] for c in customers if c["vip"]).upload_id
    """,
    "mock_server.py": """
        WHO = "the app's mock_server"
    """,
    "conftest.py": """
        import client
        import mock_server
        import pytest

        assert client.WHO == "the app's client", client.__file__
        assert mock_server.WHO == "the app's mock_server", mock_server.__file__


        @pytest.fixture
        def customers():
            return [{"account": "alice", "vip": True}, {"account": "bob", "vip": False}]
    """,
    "test_app.py": """
        import client
        import httpx
        import pytest
        from tpns_client import TPNSError
        from tpns_mock.testing import MockServer

        MESSAGE = {"title": "Hi", "content": "Your order shipped"}


        def test_only_vips_are_uploaded(tpns_mock, tpns_client, customers):
            upload_id = client.upload_vips(tpns_client, customers)
            assert tpns_mock.accounts(upload_id) == ["alice"]
            assert [u["uploadId"] for u in tpns_mock.uploads()] == [upload_id]


        def test_each_test_starts_empty_and_faults_fire(tpns_mock, tpns_client):
            assert tpns_mock.uploads() == [] and tpns_mock.requests() == []
            tpns_mock.fail("/v3/push/package/upload", 1008011, times=1)
            with pytest.raises(TPNSError) as caught:
                tpns_client.upload_package(["carol"])
            assert caught.value.ret_code == 1008011
            assert [r["faultId"] is not None for r in tpns_mock.requests()] == [True]


        @pytest.mark.tpns_mock(rate_limit=False, rules="current")
        def test_the_marker_sets_this_tests_mock(tpns_mock, tmp_path):
            assert tpns_mock.rules == "current"
            csv = tmp_path / "vips.csv"
            csv.write_text("alice\\n", encoding="utf-8")
            with tpns_mock.client() as tpns:
                upload_id = tpns.upload_package(csv).upload_id
                for _ in range(3):
                    tpns.push_package(upload_id, MESSAGE)
            assert len(tpns_mock.pushes()) == 3


        def test_a_harness_outside_the_fixture():
            with MockServer(secret_key="app-test-secret-0001") as mock:
                answer = httpx.get(mock.url + "/_mock/health").json()
                assert answer["status"] == "ok"
                mock.reset()
    """,
}


@pytest.mark.slow
def test_the_wheel_installs_into_an_app_with_its_own_client_and_mock_server(
    tmp_path: Path,
) -> None:
    # built from a copy of the working tree's files (tracked or new, not ignored), so the build
    # leaves nothing in the repository and sees uncommitted changes
    source = tmp_path / "source"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    dist = tmp_path / "dist"
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(source)]
    subprocess.run(build, check=True, capture_output=True, timeout=300)
    (wheel,) = dist.glob("tpns_mock-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python, pytest_command = venv / "bin" / "python", venv / "bin" / "pytest"
    install = [str(python), "-m", "pip", "install", "-q", str(wheel), "pytest"]
    subprocess.run(install, check=True, capture_output=True, timeout=600)

    app = tmp_path / "app"
    app.mkdir()
    for name, text in APP_FILES.items():
        (app / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TPNS_", "PYTEST_"))}
    env.pop("PYTHONPATH", None)
    for command in ([str(python), "-m", "pytest"], [str(pytest_command)]):
        result = subprocess.run(
            [*command, "-q", "-p", "no:cacheprovider"],
            cwd=app,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert "4 passed" in result.stdout, output
        assert "warning" not in output.lower(), output
