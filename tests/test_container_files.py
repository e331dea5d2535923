"""The Dockerfile, the compose file and the healthcheck probe, checked without an engine."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import LiveServer, free_port
from tpns_mock.healthcheck import health_url, probe
from tpns_mock.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
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
    (port,) = service["ports"]
    published, container = port.rsplit(":", 1)
    host, host_port = published.split(":", 1)
    assert host == "127.0.0.1", "the mock must not be reachable from the network"
    assert DEFAULTED.match(host_port)["default"] == "8080"  # type: ignore[index]
    assert container == "8080"
    (volume,) = service["volumes"]
    name, target = volume.split(":")
    assert target == "/data" and name in compose()["volumes"], "a named volume holds the data"
    assert service["healthcheck"]["test"] == ["CMD", "python", "-m", "tpns_mock.healthcheck"]


def test_compose_environment_defaults_are_the_mocks_own() -> None:
    environment = compose()["services"]["tpns-mock"]["environment"]
    env: dict[str, str] = {}
    for key, value in environment.items():
        match = DEFAULTED.match(value)
        assert match and match["var"] == key, f"{key} must read ${{{key}:-default}}"
        env[key] = match["default"]
    assert {"TPNS_MOCK_ACCESS_ID", "TPNS_MOCK_SECRET_KEY", "TPNS_MOCK_WORKERS"} <= set(env)
    ours = Settings.from_env(env)
    assert ours == Settings(data_dir=ours.data_dir), "a default in the compose file drifted"


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
