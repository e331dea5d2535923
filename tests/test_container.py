"""The image and the compose service, for real: built, started with podman-compose, probed.

Marked ``container`` and left out of any run whose ``-m`` does not name it (tests/conftest.py);
``.ci/run`` installs the engine and runs ``pytest -m container``. Without podman and
podman-compose these tests skip, except under CI (``CI`` set), where a missing engine is a
failure, not a pass.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import AUTH, UPLOAD, free_port
from zips import accounts_zip

pytestmark = pytest.mark.container

ROOT = Path(__file__).resolve().parents[1]
HEALTHY_WITHIN_S = 60


def run(*command: str, timeout: float = 120, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def engine_or_skip() -> None:
    missing = [tool for tool in ("podman", "podman-compose") if shutil.which(tool) is None]
    if not missing:
        return
    reason = (
        f"{' and '.join(missing)} not installed: install podman and podman-compose"
        " (or test with Docker by hand: docker compose up)"
    )
    if os.environ.get("CI"):
        pytest.fail(f"container tests must run in CI: {reason}")
    pytest.skip(reason)


@dataclass
class Service:
    """One ``podman-compose`` project of docker-compose.yml, on its own host port and volume."""

    project: str
    env: dict[str, str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['TPNS_MOCK_PUBLISHED_PORT']}"

    def compose(self, *args: str) -> str:
        return run(
            "podman-compose", "-f", "docker-compose.yml", "-p", self.project, *args, env=self.env
        )

    def container(self) -> str:
        names = run(
            "podman",
            "ps",
            "--filter",
            f"label=com.docker.compose.project={self.project}",
            "--format",
            "{{.Names}}",
        ).split()
        assert len(names) == 1, names
        return names[0]

    def up(self) -> str:
        """Start the service and wait until its own healthcheck passes; returns the container."""
        self.compose("up", "-d", "--no-build")
        container = self.container()
        deadline = time.monotonic() + HEALTHY_WITHIN_S
        while True:
            check = subprocess.run(
                ["podman", "healthcheck", "run", container], capture_output=True, text=True
            )
            if check.returncode == 0:
                return container
            if time.monotonic() > deadline:
                logs = run("podman", "logs", container)
                raise AssertionError(f"not healthy in {HEALTHY_WITHIN_S} s:\n{logs}")
            time.sleep(0.5)


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    engine_or_skip()
    # one tag per checkout, so that checkouts tested at once don't clobber each other
    tag = f"localhost/tpns-mock:test-{hashlib.sha1(str(ROOT).encode()).hexdigest()[:10]}"
    run("podman", "build", "--format", "docker", "-t", tag, ".", timeout=900)
    yield tag
    # leave the machine as found (the next build takes seconds: the base image stays)
    subprocess.run(["podman", "rmi", tag], capture_output=True)


@pytest.fixture(scope="module")
def service(image: str) -> Iterator[Service]:
    project = f"tpnsmocktest{uuid.uuid4().hex[:8]}"
    env = {"TPNS_MOCK_IMAGE": image, "TPNS_MOCK_PUBLISHED_PORT": str(free_port())}
    svc = Service(project, env)
    try:
        svc.up()
        yield svc
    finally:
        svc.compose("down", "-v")


def test_image_keeps_its_healthcheck(image: str) -> None:
    healthcheck = run("podman", "image", "inspect", image, "--format", "{{.Config.Healthcheck}}")
    assert "tpns_mock.healthcheck" in healthcheck


def test_service_is_published_on_loopback_only(service: Service) -> None:
    ports = run("podman", "port", service.container()).strip()
    assert ports == f"8080/tcp -> 127.0.0.1:{service.env['TPNS_MOCK_PUBLISHED_PORT']}"


def test_server_runs_as_non_root(service: Service) -> None:
    container = service.container()
    assert run("podman", "exec", container, "id", "-u").strip() != "0"
    # the server itself (PID 1), not only what exec runs
    pid1_uid = run(
        "podman", "exec", container, "python", "-c", "import os; print(os.stat('/proc/1').st_uid)"
    ).strip()
    assert pid1_uid not in ("", "0")


def test_upload_works_and_survives_down_and_up(service: Service) -> None:
    with httpx.Client(base_url=service.url, auth=AUTH, timeout=30) as client:
        answer = client.post(
            UPLOAD, files={"file": ("accounts.zip", accounts_zip(["alice", "bob"]))}
        )
        assert answer.status_code == 200
        upload_id = answer.json()["uploadId"]
        assert answer.json() == {"retCode": 0, "errMsg": "", "uploadId": upload_id}
        refused = client.post(UPLOAD, files={"file": ("accounts.zip", b"not a zip")})
        assert refused.json()["retCode"] == 1008011
        wrong = httpx.post(
            f"{service.url}{UPLOAD}",
            files={"file": ("a.zip", b"x")},
            auth=(AUTH[0], "wrong-secret"),
        )
        assert (wrong.status_code, wrong.json()["retCode"]) == (403, 1008003)

    service.compose("down")  # without -v: the named volume stays
    service.up()

    with httpx.Client(base_url=service.url, auth=AUTH, timeout=30) as client:
        assert client.get(f"/_mock/uploads/{upload_id}/accounts").text == "alice\nbob\n"
        again = client.post(UPLOAD, files={"file": ("b.zip", accounts_zip(["carol", "dan"]))})
        assert again.json()["uploadId"] == upload_id + 1


def test_docs_are_served_from_the_container(service: Service) -> None:
    html = httpx.get(f"{service.url}/docs", timeout=30).text
    assert "/_mock/docs-assets/swagger-ui-bundle.js" in html and "https://" not in html
    bundle = httpx.get(f"{service.url}/_mock/docs-assets/swagger-ui-bundle.js", timeout=30)
    assert bundle.status_code == 200


def test_the_dashboard_is_served_from_the_installed_package(service: Service) -> None:
    """The image installs a built wheel, not the source tree: the dashboard's files must be in
    the wheel's package data."""
    page = httpx.get(f"{service.url}/_mock/ui", timeout=30)
    assert page.status_code == 200 and "ui/dashboard.js" in page.text
    for name in ("dashboard.js", "dashboard.css", "favicon.svg"):
        asset = httpx.get(f"{service.url}/_mock/ui/{name}", timeout=30)
        assert asset.status_code == 200 and asset.content, name


# -- the contract suite against the container ------------------------------------------------


def contract_suite(url: str) -> subprocess.CompletedProcess[str]:
    """Run the project's contract suite (``contract_tests/``) against a mock at ``url``."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "contract_tests",
            "--tpns-url",
            url,
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_contract_suite_passes_against_the_container(service: Service) -> None:
    result = contract_suite(service.url)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
