"""Every setting once: its CLI flag, its environment variable and its default.

``Settings.from_env()`` reads the environment; the CLI starts from that and overrides with flags,
so a flag beats a variable, which beats the default.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tpns_client.protocol.package import DEFAULT_MAX_INFLATED_BYTES, MAX_UPLOAD_BYTES, Rules

from tpns_mock.listen import DEFAULT_HOST
from tpns_mock.tls import parse_names

DEFAULT_ACCESS_ID = "1500000001"
DEFAULT_SECRET_KEY = "tpns-mock-secret-key"
DEFAULT_DATA_DIR = Path("./tpns-mock-data")


def parse_apps(text: str) -> dict[str, str]:
    """Parse ``id:secret,id:secret`` (the TPNS_MOCK_APPS format)."""
    apps: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        access_id, sep, secret = item.partition(":")
        if not sep or not access_id or not secret:
            raise ValueError("each app must be written ACCESS_ID:SECRET_KEY")
        apps[access_id.strip()] = secret.strip()
    return apps


def load_apps_file(path: Path) -> dict[str, str]:
    """Read a JSON apps file: ``{"ACCESS_ID": "SECRET_KEY", ...}`` or a list of
    ``{"accessId": ..., "secretKey": ...}`` objects. Errors name the file, never a secret."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the apps file {str(path)!r}: {exc}") from None
    return parse_apps_json(text, f"apps file {str(path)!r}")


def parse_apps_json(text: str, origin: str) -> dict[str, str]:
    """Apps as JSON (see ``load_apps_file``); ``origin`` names where they came from in errors."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"cannot read {origin}: {exc}") from None
    if isinstance(data, list):
        pairs = []
        for index, item in enumerate(data):
            if not isinstance(item, dict) or not {"accessId", "secretKey"} <= item.keys():
                raise ValueError(f"{origin}: item {index} needs 'accessId' and 'secretKey'")
            pairs.append((item["accessId"], item["secretKey"]))
    elif isinstance(data, dict):
        pairs = list(data.items())
    else:
        raise ValueError(f"{origin} must hold a JSON object or array")
    apps: dict[str, str] = {}
    for access_id, secret in pairs:
        if not isinstance(access_id, str) or not access_id.strip():
            raise ValueError(f"{origin}: an AccessId is empty or not a string")
        if not isinstance(secret, str) or not secret:
            raise ValueError(f"{origin}: the SecretKey of {access_id!r} is empty or not a string")
        apps[access_id.strip()] = secret
    return apps


def _flag(value: str, name: str = "the value") -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}: expected 1/0, true/false, yes/no or on/off, not {value!r}")


def _number(env: Mapping[str, str], name: str, kind: type[int] | type[float]) -> Any:
    """A number from the environment, or an error that names the variable."""
    try:
        return kind(env[name])
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise ValueError(f"{name}: expected {what}, not {env[name]!r}") from None


def _rules(value: str, name: str) -> Rules:
    try:
        return Rules(value)
    except ValueError:
        choices = " or ".join(r.value for r in Rules)
        raise ValueError(f"{name}: expected {choices}, not {value!r}") from None


@dataclass(frozen=True)
class Settings:
    host: str = DEFAULT_HOST  # comma-separated addresses; by default both loopbacks
    port: int = 8080
    data_dir: Path | None = DEFAULT_DATA_DIR  # None: a throwaway dir removed on shutdown
    rules: Rules = Rules.SEED
    apps: Mapping[str, str] = field(default_factory=lambda: {DEFAULT_ACCESS_ID: DEFAULT_SECRET_KEY})
    timestamp_window_s: int = 600
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    max_inflated_bytes: int = DEFAULT_MAX_INFLATED_BYTES
    body_idle_timeout_s: float = 30.0
    push_rate_limit: bool = True  # full, tag and package pushes: one per interval per app
    push_interval_s: float = 1.0
    journal_size: int = 1000  # newest requests kept in the journal; 0 turns it off
    workers: int = 1  # server processes sharing the data dir (see workers.py)
    body_deadline_s: float = 600.0  # the whole body, however steadily it trickles in
    tls: bool = False  # serve HTTPS (see tls.py)
    tls_hosts: tuple[str, ...] = ()  # names the certificate covers besides tls.DEFAULT_NAMES
    tls_dir: Path | None = None  # the CA and certificate; None: <data-dir>/tls

    def __repr__(self) -> str:
        # secrets stay out of reprs, logs and tracebacks
        return (
            f"Settings(host={self.host!r}, port={self.port}, data_dir={self.data_dir!r}, "
            f"rules={self.rules.value!r}, apps={sorted(self.apps)!r})"
        )

    def checked(self) -> Settings:
        """Refuse values no server could run with, naming the flag and the variable."""
        bounds = [
            ("--port / TPNS_MOCK_PORT", self.port, 0, 65535),
            ("--timestamp-window / TPNS_MOCK_TIMESTAMP_WINDOW", self.timestamp_window_s, 0, None),
            (
                "--max-inflated-bytes / TPNS_MOCK_MAX_INFLATED_BYTES",
                self.max_inflated_bytes,
                1,
                None,
            ),
            ("TPNS_MOCK_BODY_TIMEOUT", self.body_idle_timeout_s, 0.001, None),
            ("TPNS_MOCK_BODY_DEADLINE", self.body_deadline_s, 0.001, None),
            ("--workers / TPNS_MOCK_WORKERS", self.workers, 1, None),
        ]
        for name, value, low, high in bounds:
            if value < low or (high is not None and value > high):
                limit = f"from {low} to {high}" if high is not None else f"at least {low}"
                raise ValueError(f"{name}: expected {limit}, not {value}")
        return self

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        settings = cls()
        changes: dict[str, object] = {}
        if "TPNS_MOCK_HOST" in env:
            changes["host"] = env["TPNS_MOCK_HOST"]
        if "TPNS_MOCK_PORT" in env:
            changes["port"] = _number(env, "TPNS_MOCK_PORT", int)
        if env.get("TPNS_MOCK_IN_MEMORY") and _flag(
            env["TPNS_MOCK_IN_MEMORY"], "TPNS_MOCK_IN_MEMORY"
        ):
            changes["data_dir"] = None
        elif "TPNS_MOCK_DATA_DIR" in env:
            changes["data_dir"] = Path(env["TPNS_MOCK_DATA_DIR"])
        if "TPNS_MOCK_RULES" in env:
            changes["rules"] = _rules(env["TPNS_MOCK_RULES"], "TPNS_MOCK_RULES")
        apps = dict(settings.apps)
        if "TPNS_MOCK_ACCESS_ID" in env or "TPNS_MOCK_SECRET_KEY" in env:
            apps = {
                env.get("TPNS_MOCK_ACCESS_ID", DEFAULT_ACCESS_ID): env.get(
                    "TPNS_MOCK_SECRET_KEY", DEFAULT_SECRET_KEY
                )
            }
        if env.get("TPNS_MOCK_APPS"):
            apps.update(parse_apps(env["TPNS_MOCK_APPS"]))
        if env.get("TPNS_MOCK_APPS_FILE"):
            apps.update(load_apps_file(Path(env["TPNS_MOCK_APPS_FILE"])))
        if env.get("TPNS_MOCK_APPS_JSON"):
            # every app exactly, as {"ACCESS_ID": "SECRET_KEY"}: how --workers hands them over,
            # since a secret may hold any character the id:secret,... format cannot carry
            apps = dict(parse_apps_json(env["TPNS_MOCK_APPS_JSON"], "TPNS_MOCK_APPS_JSON"))
        changes["apps"] = apps
        if "TPNS_MOCK_TIMESTAMP_WINDOW" in env:
            changes["timestamp_window_s"] = _number(env, "TPNS_MOCK_TIMESTAMP_WINDOW", int)
        if "TPNS_MOCK_MAX_INFLATED_BYTES" in env:
            changes["max_inflated_bytes"] = _number(env, "TPNS_MOCK_MAX_INFLATED_BYTES", int)
        if "TPNS_MOCK_BODY_TIMEOUT" in env:
            changes["body_idle_timeout_s"] = _number(env, "TPNS_MOCK_BODY_TIMEOUT", float)
        if "TPNS_MOCK_RATE_LIMIT" in env:
            changes["push_rate_limit"] = _flag(env["TPNS_MOCK_RATE_LIMIT"], "TPNS_MOCK_RATE_LIMIT")
        if "TPNS_MOCK_JOURNAL_SIZE" in env:
            changes["journal_size"] = _journal_size(_number(env, "TPNS_MOCK_JOURNAL_SIZE", int))
        if "TPNS_MOCK_WORKERS" in env:
            changes["workers"] = _number(env, "TPNS_MOCK_WORKERS", int)
        if "TPNS_MOCK_BODY_DEADLINE" in env:
            changes["body_deadline_s"] = _number(env, "TPNS_MOCK_BODY_DEADLINE", float)
        if "TPNS_MOCK_TLS" in env:
            changes["tls"] = (
                _flag(env["TPNS_MOCK_TLS"], "TPNS_MOCK_TLS") if env["TPNS_MOCK_TLS"] else False
            )
        if env.get("TPNS_MOCK_TLS_HOSTS"):
            changes["tls_hosts"] = parse_names(env["TPNS_MOCK_TLS_HOSTS"], "TPNS_MOCK_TLS_HOSTS")
        if env.get("TPNS_MOCK_TLS_DIR"):
            changes["tls_dir"] = Path(env["TPNS_MOCK_TLS_DIR"])
        return replace(settings, **changes).checked()  # type: ignore[arg-type]


def _journal_size(size: int) -> int:
    if size < 0:
        raise ValueError("the journal size must be 0 (off) or more")
    return size
