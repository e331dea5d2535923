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
import ssl
import subprocess
import sys
import textwrap
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
    """One ``podman-compose`` project of docker-compose.yml, on its own host port and volume.

    The service serves HTTPS (TLS is on in the compose file): the host side trusts the CA the
    mock made in its volume, copied out once it is up (``ca``)."""

    project: str
    env: dict[str, str]
    ca: Path

    @property
    def url(self) -> str:
        # 127.0.0.1, not localhost: rootful podman (netavark) publishes [::1] but does not
        # forward it to the container (Docker's proxy does), and localhost may try ::1 first
        return f"https://127.0.0.1:{self.env['TPNS_MOCK_PUBLISHED_PORT']}"

    def verify(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca)

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
                self.ca.write_text(run("podman", "exec", container, "cat", "/data/tls/ca.pem"))
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
def service(image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    project = f"tpnsmocktest{uuid.uuid4().hex[:8]}"
    env = {"TPNS_MOCK_IMAGE": image, "TPNS_MOCK_PUBLISHED_PORT": str(free_port())}
    svc = Service(project, env, tmp_path_factory.mktemp("compose") / "ca.pem")
    try:
        svc.up()
        yield svc
    finally:
        svc.compose("down", "-v")


def test_image_keeps_its_healthcheck(image: str) -> None:
    healthcheck = run("podman", "image", "inspect", image, "--format", "{{.Config.Healthcheck}}")
    assert "tpns_mock.healthcheck" in healthcheck


def test_service_is_published_on_both_loopbacks_only(service: Service) -> None:
    ports = sorted(run("podman", "port", service.container()).split("\n"))
    published = service.env["TPNS_MOCK_PUBLISHED_PORT"]
    assert [p for p in ports if p] == [
        f"443/tcp -> 127.0.0.1:{published}",
        f"443/tcp -> ::1:{published}",
    ]
    assert httpx.get(f"{service.url}/_mock/health", verify=service.verify()).status_code == 200


def test_server_runs_as_non_root(service: Service) -> None:
    container = service.container()
    assert run("podman", "exec", container, "id", "-u").strip() != "0"
    # the server itself (PID 1), not only what exec runs
    pid1_uid = run(
        "podman", "exec", container, "python", "-c", "import os; print(os.stat('/proc/1').st_uid)"
    ).strip()
    assert pid1_uid not in ("", "0")


def test_upload_works_and_survives_down_and_up(service: Service) -> None:
    with httpx.Client(
        base_url=service.url, auth=AUTH, timeout=30, verify=service.verify()
    ) as client:
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
            verify=service.verify(),
        )
        assert (wrong.status_code, wrong.json()["retCode"]) == (403, 1008003)

    ca_before = service.ca.read_text()
    service.compose("down")  # without -v: the named volume stays
    service.up()
    assert service.ca.read_text() == ca_before, "the CA lives in the volume: trust survives"

    with httpx.Client(
        base_url=service.url, auth=AUTH, timeout=30, verify=service.verify()
    ) as client:
        assert client.get(f"/_mock/uploads/{upload_id}/accounts").text == "alice\nbob\n"
        again = client.post(UPLOAD, files={"file": ("b.zip", accounts_zip(["carol", "dan"]))})
        assert again.json()["uploadId"] == upload_id + 1


def test_docs_are_served_from_the_container(service: Service) -> None:
    html = httpx.get(f"{service.url}/docs", timeout=30, verify=service.verify()).text
    assert "/_mock/docs-assets/swagger-ui-bundle.js" in html and "https://" not in html
    bundle = httpx.get(
        f"{service.url}/_mock/docs-assets/swagger-ui-bundle.js", timeout=30, verify=service.verify()
    )
    assert bundle.status_code == 200


def test_the_dashboard_is_served_from_the_installed_package(service: Service) -> None:
    """The image installs a built wheel, not the source tree: the dashboard's files must be in
    the wheel's package data."""
    page = httpx.get(f"{service.url}/_mock/ui", timeout=30, verify=service.verify())
    assert page.status_code == 200 and "ui/dashboard.js" in page.text
    for name in ("dashboard.js", "dashboard.css", "favicon.svg"):
        asset = httpx.get(f"{service.url}/_mock/ui/{name}", timeout=30, verify=service.verify())
        assert asset.status_code == 200 and asset.content, name


# -- the contract suite against the container ------------------------------------------------


def contract_suite(url: str, ca: Path) -> subprocess.CompletedProcess[str]:
    """Run the project's contract suite (``contract_tests/``) against a mock at ``url``, over
    HTTPS trusting ``ca`` (httpx reads SSL_CERT_FILE)."""
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
        env={**os.environ, "SSL_CERT_FILE": str(ca)},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_contract_suite_passes_against_the_container(service: Service) -> None:
    result = contract_suite(service.url, service.ca)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


# -- a drop-in for Tencent, for the other containers of the project --------------------------

# what an app container runs: Python's standard library, Tencent's real URL, Tencent's HMAC
# signature, and the CA read from the mock's volume (mounted read-only at /tpns-mock)
APP = textwrap.dedent(
    r"""
    import base64, hashlib, hmac, json, ssl, sys, time, urllib.request

    access_id, secret, zip_bytes = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3])
    trust = ssl.create_default_context(cafile="/tpns-mock/tls/ca.pem")
    boundary = "apptest"
    body = (
        b'--apptest\r\nContent-Disposition: form-data; name="file"; filename="a.zip"\r\n'
        b"Content-Type: application/zip\r\n\r\n" + zip_bytes + b"\r\n--apptest--\r\n"
    )
    stamp = str(int(time.time()))
    mac = hmac.new(secret.encode(), (stamp + access_id).encode() + body, hashlib.sha256)
    request = urllib.request.Request(
        "https://api.tpns.tencent.com/v3/push/package/upload",
        data=body,
        headers={
            "Content-Type": "multipart/form-data; boundary=" + boundary,
            "AccessId": access_id,
            "TimeStamp": stamp,
            "Sign": base64.b64encode(mac.hexdigest().encode()).decode(),
        },
    )
    answer = json.load(urllib.request.urlopen(request, context=trust, timeout=30))
    served = {}
    for host in ("api.tpns.sh.tencent.com", "api.tpns.hk.tencent.com",
                 "api.tpns.sgp.tencent.com", "tpns-mock"):
        url = "https://" + host + "/_mock/ca.pem"
        served[host] = urllib.request.urlopen(url, context=trust, timeout=30).read().decode()
    print(json.dumps({"answer": answer, "served": served}))
    """
)


def test_another_container_reaches_tencent_hosts_and_gets_the_mock(
    service: Service, image: str
) -> None:
    container = service.container()
    out = run(
        "podman",
        "run",
        "--rm",
        "--network",
        f"{service.project}_default",
        "-v",
        f"{service.project}_tpns-mock-data:/tpns-mock:ro",
        "--entrypoint",
        "python",
        image,
        "-c",
        APP,
        AUTH[0],
        AUTH[1],
        accounts_zip(["dropin-alice", "dropin-bob"]).hex(),
        timeout=120,
    )
    result = __import__("json").loads(out)
    answer = result["answer"]
    assert answer["retCode"] == 0 and answer["errMsg"] == "", answer
    # the CA every name served is the one in the volume
    assert set(result["served"].values()) == {service.ca.read_text()}
    with httpx.Client(base_url=service.url, timeout=30, verify=service.verify()) as mock:
        accounts = mock.get(f"/_mock/uploads/{answer['uploadId']}/accounts").text
        entry = mock.get("/_mock/requests", params={"limit": 10}).json()["requests"]
    assert accounts == "dropin-alice\ndropin-bob\n"
    (upload,) = [e for e in entry if e["path"] == UPLOAD and e["accessId"] == AUTH[0]][:1]
    assert (upload["host"], upload["scheme"], upload["retCode"]) == (
        "api.tpns.tencent.com",
        "https",
        0,
    ), upload
    assert upload["headers"]["sign"] == "[redacted]", upload
    assert container  # the mock's own container answered; no other is on the network
