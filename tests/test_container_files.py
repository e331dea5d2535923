"""The Dockerfile, the compose file and the healthcheck probe, checked without an engine."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import LiveServer, free_port, start_server
from tpns_mock.healthcheck import health_url, probe
from tpns_mock.settings import Settings
from tpns_mock.tls import TENCENT_HOSTS

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = re.compile(r"(\[[^\]]+\]|[^:]+):(.*)")  # host:port, the host maybe [IPv6]
DEFAULTED = re.compile(r"^\$\{(?P<var>[A-Z0-9_]+):-(?P<default>[^}]*)\}$")


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def dockerfile() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def test_compose_service_binds_loopback_keeps_data_and_checks_health() -> None:
    service = compose()["services"]["tpns-mock"]
    assert service["build"] == "."
    hosts = []
    for port in service["ports"]:
        published, container = port.rsplit(":", 1)
        host, host_port = PUBLISHED.match(published).groups()  # type: ignore[union-attr]
        hosts.append(host)
        assert DEFAULTED.match(host_port)["default"] == "8080"  # type: ignore[index]
        assert container == service["environment"]["TPNS_MOCK_PORT"] == "443"
    # both loopbacks (localhost may be either), and nothing the network reaches
    assert hosts == ["127.0.0.1", "[::1]"]
    (volume,) = service["volumes"]
    name, target = volume.split(":")
    assert target == "/data" and name in compose()["volumes"], "a named volume holds the data"
    assert service["healthcheck"]["test"] == ["CMD", "python", "-m", "tpns_mock.healthcheck"]


def test_compose_environment_defaults_are_the_mocks_own() -> None:
    environment = dict(compose()["services"]["tpns-mock"]["environment"])
    # the compose file's own choices: Tencent's port, and TLS on (TPNS_MOCK_TLS=0 turns it off)
    assert environment.pop("TPNS_MOCK_PORT") == "443"
    assert environment["TPNS_MOCK_TLS"] == "${TPNS_MOCK_TLS:-1}"
    env: dict[str, str] = {"TPNS_MOCK_TLS": "0"}
    for key, value in environment.items():
        if key == "TPNS_MOCK_TLS":
            continue
        match = DEFAULTED.match(value)
        assert match and match["var"] == key, f"{key} must read ${{{key}:-default}}"
        env[key] = match["default"]
    assert {"TPNS_MOCK_ACCESS_ID", "TPNS_MOCK_SECRET_KEY", "TPNS_MOCK_WORKERS"} <= set(env)
    ours = Settings.from_env(env)
    assert ours == Settings(data_dir=ours.data_dir), "a default in the compose file drifted"


def test_compose_answers_under_tencents_hostnames() -> None:
    service = compose()["services"]["tpns-mock"]
    aliases = service["networks"]["default"]["aliases"]
    assert sorted(aliases) == sorted(TENCENT_HOSTS) and len(TENCENT_HOSTS) == 4
    # an unprivileged server may listen on 443 whatever the engine's default
    assert service["sysctls"]["net.ipv4.ip_unprivileged_port_start"] == 0


def test_dockerfile_builds_on_the_official_slim_image_as_non_root() -> None:
    lines = dockerfile()
    instructions = {line.split()[0] for line in lines}
    assert lines[0] == "FROM python:3.12-slim"
    assert sum(line.startswith("FROM ") for line in lines) == 1
    (user,) = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert user.split(":")[0] not in ("0", "root")
    assert 'VOLUME ["/data"]' in lines
    assert "EXPOSE 8080" in lines
    (health,) = [line for line in lines if line.startswith("HEALTHCHECK ")]
    assert health.endswith('CMD ["python", "-m", "tpns_mock.healthcheck"]')
    env = " ".join(line for line in lines if line.startswith("ENV "))
    assert "TPNS_MOCK_HOST=0.0.0.0" in env and "TPNS_MOCK_DATA_DIR=/data" in env
    assert {"RUN", "COPY", "ENTRYPOINT"} <= instructions
    assert "localhost/" not in (ROOT / "Dockerfile").read_text()


@pytest.mark.parametrize(
    ("env", "url"),
    [
        ({}, "http://127.0.0.1:8080/_mock/health"),
        (
            {"TPNS_MOCK_HOST": "0.0.0.0", "TPNS_MOCK_PORT": "9000"},
            "http://127.0.0.1:9000/_mock/health",
        ),
        ({"TPNS_MOCK_HOST": "::"}, "http://127.0.0.1:8080/_mock/health"),
        ({"TPNS_MOCK_HOST": "::1", "TPNS_MOCK_PORT": "81"}, "http://[::1]:81/_mock/health"),
        ({"TPNS_MOCK_HOST": "10.0.0.5"}, "http://10.0.0.5:8080/_mock/health"),
        ({"TPNS_MOCK_HOST": "127.0.0.1,::1"}, "http://127.0.0.1:8080/_mock/health"),
        ({"TPNS_MOCK_TLS": "1", "TPNS_MOCK_PORT": "443"}, "https://127.0.0.1:443/_mock/health"),
    ],
)
def test_healthcheck_follows_the_configured_host_and_port(env: dict[str, str], url: str) -> None:
    assert health_url(env) == url


def test_healthcheck_exit_code_says_whether_the_mock_serves(live_server: LiveServer) -> None:
    port = live_server.url.rsplit(":", 1)[1]
    assert probe(f"{live_server.url}/_mock/health") is None
    command = [sys.executable, "-m", "tpns_mock.healthcheck"]
    healthy = subprocess.run(command, env={"TPNS_MOCK_PORT": port}, capture_output=True)
    assert healthy.returncode == 0, healthy.stderr
    closed = subprocess.run(
        command, env={"TPNS_MOCK_PORT": str(free_port())}, capture_output=True, text=True
    )
    assert closed.returncode == 1
    assert "unhealthy" in closed.stderr
    assert probe(f"{live_server.url}/_mock/nothing-here") == "HTTP Error 404: Not Found"


def test_healthcheck_over_tls_trusts_the_mocks_own_ca(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--tls")
    try:
        port = server.url.rsplit(":", 1)[1]
        command = [sys.executable, "-m", "tpns_mock.healthcheck"]
        env = {"TPNS_MOCK_PORT": port, "TPNS_MOCK_TLS": "1"}
        healthy = subprocess.run(
            command, env={**env, "TPNS_MOCK_DATA_DIR": str(server.data_dir)}, capture_output=True
        )
        assert healthy.returncode == 0, healthy.stderr
        # another CA (another data dir's): the probe does not trust what it cannot check
        other = tmp_path / "other"
        (other / "tls").mkdir(parents=True)
        __import__("tpns_mock.tls").tls.prepare(other / "tls", ["localhost"])
        distrust = subprocess.run(
            command, env={**env, "TPNS_MOCK_DATA_DIR": str(other)}, capture_output=True, text=True
        )
        assert distrust.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in distrust.stderr
    finally:
        server.stop()
