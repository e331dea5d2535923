"""Every setting declared once; the CLI, the environment reader, ``--workers``' hand-over and
README.md's settings table are all made from these declarations.

**Adding a setting is one line**: a field of ``Settings`` whose default is ``declare(...)``, with
its default, flag, environment variable, bounds and help. Its type comes from the annotation
(``int``, ``float``, ``bool``, ``str``, ``Path``, an ``Enum``); from that line it gets a flag in
``tpns-mock --help``, a ``TPNS_MOCK_*`` variable read by ``Settings.from_env()``, bounds checked
with the flag and the variable named, a place in the environment ``--workers`` hands to its
processes, and a row in README.md's table (tests/test_settings.py fails until README.md has it;
``python -m tpns_mock.settings --write README.md`` rewrites the table). A ``bool``'s flag is a
switch that turns the default around (``--no-rate-limit``).

A flag beats a variable, which beats the default. A variable set to the empty string counts as
unset (compose files pass ``${VAR:-}``). A few settings can also be given another way
(``--in-memory``, ``--access-id``, ...): those are ``Alias`` lines in ``ALIASES``.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import os
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tpns_client.protocol.package import DEFAULT_MAX_INFLATED_BYTES, MAX_UPLOAD_BYTES, Rules
from tpns_client.protocol.paths import REGIONS

from tpns_mock.listen import DEFAULT_HOST
from tpns_mock.tls import parse_names

DEFAULT_ACCESS_ID = "1500000001"
DEFAULT_SECRET_KEY = "tpns-mock-secret-key"
DEFAULT_DATA_DIR = Path("./tpns-mock-data")
ENV_PREFIX = "TPNS_MOCK_"


@dataclass(frozen=True)
class Declaration:
    """What a field of ``Settings`` is called on the command line and in the environment."""

    flag: str | None  # None: environment only
    env: str
    help: str
    low: float | None = None
    high: float | None = None
    shown: str | None = None  # the default as README.md shows it, when str(default) reads badly


def declare(
    default: Any,
    flag: str | None,
    env: str,
    help: str,
    *,
    low: float | None = None,
    high: float | None = None,
    shown: str | None = None,
) -> Any:
    """A ``Settings`` field with its declaration (see the module docstring)."""
    declaration = Declaration(flag, env, help, low, high, shown)
    if isinstance(default, (dict, list)):
        return field(
            default_factory=lambda: type(default)(default), metadata={"setting": declaration}
        )
    return field(default=default, metadata={"setting": declaration})


@dataclass(frozen=True)
class Settings:
    """What a mock runs with. Add a setting with one line below, for example
    ``delay_s: float = declare(0.0, "--delay", "TPNS_MOCK_DELAY", "what it does", low=0)``
    (then ``python -m tpns_mock.settings --write README.md``)."""

    # fmt: off
    host: str = declare(DEFAULT_HOST, "--host", "TPNS_MOCK_HOST", "addresses to bind, comma-separated; by default both loopbacks (`::1` only where the machine has IPv6)")  # noqa: E501
    port: int = declare(8080, "--port", "TPNS_MOCK_PORT", "port to listen on", low=0, high=65535)
    data_dir: Path | None = declare(DEFAULT_DATA_DIR, "--data-dir", "TPNS_MOCK_DATA_DIR", "where uploads live; `--in-memory`: a throwaway dir removed at exit", shown="./tpns-mock-data")  # noqa: E501
    rules: Rules = declare(Rules.SEED, "--rules", "TPNS_MOCK_RULES", "upload rules: `seed` (the upload document) or `current` (also `.txt`, `.csv`)")  # noqa: E501
    apps: Mapping[str, str] = declare({DEFAULT_ACCESS_ID: DEFAULT_SECRET_KEY}, None, "TPNS_MOCK_APPS_JSON", "every app exactly, as `{\"ACCESS_ID\": \"SECRET_KEY\"}`, replacing the app settings below (how `--workers` hands apps over)", shown="one app: `1500000001` / `tpns-mock-secret-key`")  # noqa: E501
    timestamp_window_s: int = declare(600, "--timestamp-window", "TPNS_MOCK_TIMESTAMP_WINDOW", "seconds a signed TimeStamp may differ from the server's clock", low=0)  # noqa: E501
    max_upload_bytes: int = declare(MAX_UPLOAD_BYTES, None, "TPNS_MOCK_MAX_UPLOAD_BYTES", "largest upload body accepted (Tencent's limit is 100 MiB)", low=1, shown="`104857600` (100 MiB)")  # noqa: E501
    max_inflated_bytes: int = declare(DEFAULT_MAX_INFLATED_BYTES, "--max-inflated-bytes", "TPNS_MOCK_MAX_INFLATED_BYTES", "zip-bomb cap on the inflated accounts file", low=1, shown="`1073741824` (1 GiB)")  # noqa: E501
    body_idle_timeout_s: float = declare(30.0, None, "TPNS_MOCK_BODY_TIMEOUT", "seconds without data before a stalled body is refused", low=0.001)  # noqa: E501
    body_deadline_s: float = declare(600.0, None, "TPNS_MOCK_BODY_DEADLINE", "seconds for a whole body, however steadily it trickles in", low=0.001)  # noqa: E501
    push_rate_limit: bool = declare(True, "--no-rate-limit", "TPNS_MOCK_RATE_LIMIT", "at most one full, tag or package push per interval per app (`--no-rate-limit` lifts it)")  # noqa: E501
    push_interval_s: float = declare(1.0, None, "TPNS_MOCK_PUSH_INTERVAL", "seconds the rate limit spaces full, tag and package pushes of one app", low=0)  # noqa: E501
    push_duration_s: float = declare(1.0, "--push-duration", "TPNS_MOCK_PUSH_DURATION", "seconds an accepted push takes from `PUSH_INIT` to `PUSH_FINISHED` in its record", low=0, high=86400)  # noqa: E501
    journal_size: int = declare(1000, "--journal-size", "TPNS_MOCK_JOURNAL_SIZE", "newest requests kept in `/_mock/requests`; 0 turns the journal off", low=0)  # noqa: E501
    workers: int = declare(1, "--workers", "TPNS_MOCK_WORKERS", "server processes sharing the data dir (one sequence of uploadIds, any worker shows any upload); on Linux each binds the port itself, so the kernel spreads connections over them and a stopping mock refuses new ones", low=1)  # noqa: E501
    log_level: str = declare("info", "--log-level", "TPNS_MOCK_LOG_LEVEL", "uvicorn's log level: critical, error, warning, info, debug")  # noqa: E501
    allowed_hosts: str = declare("", "--allowed-hosts", "TPNS_MOCK_ALLOWED_HOSTS", "more Host names `/_mock/` answers to, comma-separated (loopback names and addresses, `tpns-mock` and the `--host` address always)", shown="none")  # noqa: E501
    tls: bool = declare(False, "--tls", "TPNS_MOCK_TLS", "serve HTTPS with a certificate signed by a local CA, made once per TLS dir and served at `/_mock/ca.pem`")  # noqa: E501
    tls_hosts: tuple[str, ...] = declare((), "--tls-hosts", "TPNS_MOCK_TLS_HOSTS", "more DNS names or IP addresses for the certificate, comma-separated (it always covers `localhost`, `127.0.0.1`, `::1`, Tencent's four API hosts and `tpns-mock`)", shown="none")  # noqa: E501
    tls_dir: Path | None = declare(None, "--tls-dir", "TPNS_MOCK_TLS_DIR", "where the CA and the certificate live (`ca.pem`, `ca-key.pem`, `server.pem`, `server-key.pem`); in memory: a throwaway dir", shown="`<data-dir>/tls`")  # noqa: E501
    # fmt: on

    def __repr__(self) -> str:
        # secrets stay out of reprs, logs and tracebacks
        return (
            f"Settings(host={self.host!r}, port={self.port}, data_dir={self.data_dir!r}, "
            f"rules={self.rules.value!r}, apps={sorted(self.apps)!r})"
        )

    def control_hosts(self) -> tuple[str, ...]:
        """The names /_mock/ answers to besides the built-in ones (see tpns_mock.guard): those
        added by the user, the addresses the mock was told to bind to, and the names its
        certificate covers (Tencent's hosts, which no attacker's page can resolve to the mock,
        so apps and containers reaching it by those names can fetch ``/_mock/ca.pem``)."""
        added = (name.strip() for name in self.allowed_hosts.split(","))
        bound = (name.strip() for name in self.host.split(","))
        tencent = (str(urlsplit(url).hostname) for url in REGIONS.values())
        return tuple(dict.fromkeys(filter(None, (*added, *bound, *tencent, *self.tls_hosts))))

    def checked(self) -> Settings:
        """Refuse values no server could run with, naming the flag and the variable."""
        for spec in specs():
            value = getattr(self, spec.name)
            low, high = spec.declaration.low, spec.declaration.high
            if value is None or (low is None and high is None):
                continue
            if (low is not None and value < low) or (high is not None and value > high):
                limit = f"from {low} to {high}" if high is not None else f"at least {low}"
                raise ValueError(f"{spec.names}: expected {limit}, not {value}")
        for name in self.control_hosts():
            if "/" in name or " " in name:
                raise ValueError(
                    f"--allowed-hosts / TPNS_MOCK_ALLOWED_HOSTS: {name!r} is not a host name "
                    "or address"
                )
        return self

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``TPNS_MOCK_*`` variables (``os.environ`` by default), checked."""
        env = os.environ if env is None else env
        settings = cls()
        for alias in ALIASES:  # the exact variables below win over these
            if alias.env and env.get(alias.env) and not alias.wins:
                settings = alias.apply(settings, env[alias.env], alias.env)
        for spec in specs():
            if env.get(spec.declaration.env):
                value = spec.parse(env[spec.declaration.env], spec.declaration.env)
                settings = replace(settings, **{spec.name: value})
        for alias in ALIASES:
            if alias.env and env.get(alias.env) and alias.wins:
                settings = alias.apply(settings, env[alias.env], alias.env)
        return settings.checked()

    def to_env(self) -> dict[str, str]:
        """The variables that make ``Settings.from_env()`` give back exactly these settings."""
        if self.data_dir is None:
            raise ValueError("a throwaway data dir cannot be handed over: set a data dir")
        return {spec.declaration.env: spec.text(getattr(self, spec.name)) for spec in specs()}


# -- each setting's type: how text becomes a value, and back ----------------------------------


def _flag(value: str, name: str = "the value") -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}: expected 1/0, true/false, yes/no or on/off, not {value!r}")


def _number(kind: type[int] | type[float]) -> Callable[[str, str], Any]:
    def read(text: str, name: str) -> Any:
        try:
            return kind(text)
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise ValueError(f"{name}: expected {what}, not {text!r}") from None

    return read


def _choice(kind: type[enum.Enum]) -> Callable[[str, str], Any]:
    def read(text: str, name: str) -> Any:
        try:
            return kind(text)
        except ValueError:
            choices = " or ".join(str(member.value) for member in kind)
            raise ValueError(f"{name}: expected {choices}, not {text!r}") from None

    return read


@dataclass(frozen=True)
class Spec:
    """A declared field with what its type brings: a parser and a formatter."""

    name: str
    kind: Any
    default: Any
    declaration: Declaration

    @property
    def names(self) -> str:
        """How errors name it: ``--port / TPNS_MOCK_PORT``."""
        flag = self.declaration.flag
        return f"{flag} / {self.declaration.env}" if flag else self.declaration.env

    def parse(self, text: str, name: str) -> Any:
        if self.kind is bool:
            return _flag(text, name)
        if self.kind in (int, float):
            return _number(self.kind)(text, name)
        if isinstance(self.kind, type) and issubclass(self.kind, enum.Enum):
            return _choice(self.kind)(text, name)
        if self.kind is Path:
            return Path(text)
        if self.kind is Mapping:
            return parse_apps_json(text, name)
        if self.kind is tuple:
            return parse_names(text, name)
        return text

    def text(self, value: Any) -> str:
        if value is None:
            return ""  # unset: the default
        if isinstance(value, tuple):
            return ",".join(value)
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, enum.Enum):
            return str(value.value)
        if isinstance(value, float):
            return repr(value)
        if isinstance(value, Mapping):
            return json.dumps(dict(value))
        return str(value)

    def shown(self) -> str:
        if self.declaration.shown is not None:
            shown = self.declaration.shown
            return shown if "`" in shown else f"`{shown}`"
        if isinstance(self.default, bool):
            return "on" if self.default else "off"
        if isinstance(self.default, float):
            return f"`{self.default:g}`"
        return f"`{self.text(self.default)}`"


@cache
def specs() -> tuple[Spec, ...]:
    """Every declared field of ``Settings``, in declaration order."""
    return tuple(settings_specs(Settings))


def settings_specs(cls: type) -> list[Spec]:
    """The declared fields of a settings dataclass; a field without ``declare`` is an error."""
    hints = typing.get_type_hints(cls)
    found = []
    for item in dataclasses.fields(cls):
        declaration = item.metadata.get("setting")
        if declaration is None:
            raise TypeError(f"{cls.__name__}.{item.name} needs declare(...): flag, variable, help")
        kind = hints[item.name]
        if typing.get_origin(kind) in (typing.Union, types.UnionType):
            (kind,) = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        kind = typing.get_origin(kind) or kind
        if kind is not Mapping and isinstance(kind, type) and issubclass(kind, Mapping):
            kind = Mapping
        if item.default_factory is not dataclasses.MISSING:
            default = item.default_factory()
        else:
            default = item.default
        found.append(Spec(item.name, kind, default, declaration))
    return found


# -- other ways to give a setting -------------------------------------------------------------


@dataclass(frozen=True)
class Alias:
    """Another flag or variable that changes a declared setting (``--in-memory`` sets
    ``data_dir`` to None). ``wins``: applied after the setting's own variable, else before it."""

    flag: str | None
    env: str | None
    help: str
    change: Callable[[Settings, Any], Settings]
    parse: Callable[[str, str], Any] = lambda text, name: text
    switch: bool = False  # a flag without a value
    wins: bool = False

    def apply(self, settings: Settings, text: str, name: str) -> Settings:
        return self.change(settings, self.parse(text, name))


def _first_app(
    settings: Settings, access_id: str | None = None, secret: str | None = None
) -> Settings:
    """Replace the first app's AccessId or SecretKey, keeping it first."""
    (first_id, first_secret), *rest = settings.apps.items()
    apps = {access_id or first_id: secret or first_secret, **dict(rest)}
    return replace(settings, apps=apps)


def _more_apps(settings: Settings, apps: Mapping[str, str]) -> Settings:
    return replace(settings, apps={**settings.apps, **apps})


def _apps_file(text: str, name: str) -> dict[str, str]:
    return load_apps_file(Path(text))


# fmt: off
ALIASES: tuple[Alias, ...] = (
    Alias("--in-memory", "TPNS_MOCK_IN_MEMORY", "a throwaway store, gone at exit (the variable: 1/0, true/false, yes/no, on/off)", lambda s, on: replace(s, data_dir=None) if on else s, _flag, switch=True, wins=True),  # noqa: E501
    Alias("--access-id", "TPNS_MOCK_ACCESS_ID", "the app's AccessId (default `1500000001`)", lambda s, v: _first_app(s, access_id=v)),  # noqa: E501
    Alias("--secret-key", "TPNS_MOCK_SECRET_KEY", "the app's SecretKey (default `tpns-mock-secret-key`)", lambda s, v: _first_app(s, secret=v)),  # noqa: E501
    Alias(None, "TPNS_MOCK_APPS", "more apps besides the one above, as `id:secret,id:secret`", _more_apps, lambda text, name: parse_apps(text)),  # noqa: E501
    Alias("--apps-file", "TPNS_MOCK_APPS_FILE", 'more apps from a JSON file: `{"ACCESS_ID": "SECRET_KEY"}` or `[{"accessId": ..., "secretKey": ...}]`', _more_apps, _apps_file),  # noqa: E501
)
# fmt: on


# -- the command line and README.md's table ---------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per declared setting and alias; each defaults to None (not given)."""
    for spec in specs():
        flag, help = spec.declaration.flag, spec.declaration.help
        if flag is None:
            continue
        help = f"{help} (default {spec.shown()}; {spec.declaration.env})"
        help = help.replace("%", "%%").replace("`", "")
        if spec.kind is bool:
            parser.add_argument(
                flag, dest=spec.name, action="store_const", const=not spec.default, help=help
            )
            continue
        metavar = flag.removeprefix("--").upper().replace("-", "_")
        if isinstance(spec.kind, type) and issubclass(spec.kind, enum.Enum):
            metavar = "{" + ",".join(str(member.value) for member in spec.kind) + "}"
        parser.add_argument(
            flag, dest=spec.name, type=_argument(spec.parse, flag), metavar=metavar, help=help
        )
    for index, alias in enumerate(ALIASES):
        if alias.flag is None:
            continue
        help = f"{alias.help} ({alias.env})".replace("%", "%%").replace("`", "")
        dest = f"alias_{index}"
        if alias.switch:
            parser.add_argument(alias.flag, dest=dest, action="store_const", const="1", help=help)
        else:
            metavar = alias.flag.removeprefix("--").upper().replace("-", "_")
            parser.add_argument(alias.flag, dest=dest, metavar=metavar, help=help)


def _argument(parse: Callable[[str, str], Any], flag: str) -> Callable[[str], Any]:
    def read(text: str) -> Any:
        try:
            return parse(text, flag)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{flag}: ")) from None

    return read


def from_args(args: argparse.Namespace, base: Settings) -> Settings:
    """``base`` (usually from the environment) with the flags given on top, checked."""
    settings = base
    for index, alias in enumerate(ALIASES):
        value = getattr(args, f"alias_{index}", None)
        if value is not None and not alias.wins:
            settings = alias.apply(settings, value, alias.flag or "")
    for spec in specs():
        value = getattr(args, spec.name, None)
        if value is not None:
            settings = replace(settings, **{spec.name: value})
    for index, alias in enumerate(ALIASES):
        value = getattr(args, f"alias_{index}", None)
        if value is not None and alias.wins:
            settings = alias.apply(settings, value, alias.flag or "")
    return settings.checked()


def readme_table() -> str:
    """README.md's settings table, made from the declarations."""
    rows = ["| flag | environment | default | what |", "|---|---|---|---|"]

    def cell(text: str | None) -> str:
        return f"`{text}`" if text else ""

    for spec in specs():
        rows.append(
            f"| {cell(spec.declaration.flag)} | {cell(spec.declaration.env)} | {spec.shown()} "
            f"| {spec.declaration.help} |"
        )
    for alias in ALIASES:
        rows.append(f"| {cell(alias.flag)} | {cell(alias.env)} | | {alias.help} |")
    return "\n".join(rows) + "\n"


# -- apps ------------------------------------------------------------------------------------


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


def rewrite_readme(path: Path) -> None:
    """Replace the settings table in README.md (from its header row to the next blank line)."""
    text = path.read_text(encoding="utf-8")
    header = readme_table().splitlines()[0]
    start = text.index(header)
    end = text.index("\n\n", start) + 1
    path.write_text(text[:start] + readme_table() + text[end:], encoding="utf-8")


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--write"]:
        rewrite_readme(Path(sys.argv[2] if len(sys.argv) > 2 else "README.md"))
    else:
        print(readme_table(), end="")
