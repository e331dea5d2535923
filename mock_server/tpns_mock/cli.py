"""``tpns-mock`` / ``python -m tpns_mock``: start the mock and say how to reach it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from tpns_client.protocol.package import Rules

from tpns_mock import listen
from tpns_mock.settings import DEFAULT_SECRET_KEY, Settings, load_apps_file
from tpns_mock.tls import TENCENT_HOSTS, parse_names
from tpns_mock.workers import serve


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tpns-mock",
        description="A local stand-in for Tencent Push Notification Service's number-package API.",
        epilog="Every flag has an environment variable (TPNS_MOCK_*); a flag wins. See README.md.",
    )
    parser.add_argument(
        "--host",
        help="addresses to bind, comma-separated (default 127.0.0.1,::1; TPNS_MOCK_HOST)",
    )
    parser.add_argument("--port", type=int, help="port (default 8080; TPNS_MOCK_PORT)")
    parser.add_argument(
        "--data-dir", type=Path, help="where uploads live (default ./tpns-mock-data)"
    )
    parser.add_argument("--in-memory", action="store_true", help="a throwaway store, gone at exit")
    parser.add_argument(
        "--rules", choices=[r.value for r in Rules], help="upload rules (default seed)"
    )
    parser.add_argument("--access-id", help="the app's AccessId (TPNS_MOCK_ACCESS_ID)")
    parser.add_argument("--secret-key", help="the app's SecretKey (TPNS_MOCK_SECRET_KEY)")
    parser.add_argument(
        "--timestamp-window", type=int, help="seconds a signed TimeStamp may drift (default 600)"
    )
    parser.add_argument(
        "--max-inflated-bytes", type=int, help="zip-bomb cap on the inflated txt (default 1 GiB)"
    )
    parser.add_argument(
        "--apps-file",
        type=Path,
        help='more apps from a JSON file {"ACCESS_ID": "SECRET_KEY"} (TPNS_MOCK_APPS_FILE)',
    )
    parser.add_argument(
        "--no-rate-limit",
        action="store_true",
        help="allow more than 1 full/tag/package push per second per app (TPNS_MOCK_RATE_LIMIT=0)",
    )
    parser.add_argument(
        "--journal-size",
        type=int,
        help="requests kept in /_mock/requests, 0 turns it off (default 1000)",
    )
    parser.add_argument("--log-level", default="info", help="uvicorn log level (default info)")
    parser.add_argument(
        "--workers", type=int, help="server processes sharing one data dir (default 1)"
    )
    parser.add_argument(
        "--tls", action="store_true", help="serve HTTPS with a local CA (TPNS_MOCK_TLS=1)"
    )
    parser.add_argument(
        "--tls-hosts",
        help="more names for the certificate, comma-separated (TPNS_MOCK_TLS_HOSTS)",
    )
    parser.add_argument(
        "--tls-dir",
        type=Path,
        help="where the CA and certificate live (default <data-dir>/tls; TPNS_MOCK_TLS_DIR)",
    )
    return parser


def settings_from_args(args: argparse.Namespace, base: Settings) -> Settings:
    changes: dict[str, object] = {}
    if args.host:
        changes["host"] = args.host
    if args.port is not None:
        changes["port"] = args.port
    if args.in_memory:
        changes["data_dir"] = None
    elif args.data_dir:
        changes["data_dir"] = args.data_dir
    if args.rules:
        changes["rules"] = Rules(args.rules)
    if args.timestamp_window is not None:
        changes["timestamp_window_s"] = args.timestamp_window
    if args.max_inflated_bytes is not None:
        changes["max_inflated_bytes"] = args.max_inflated_bytes
    if args.workers is not None:
        changes["workers"] = args.workers
    if args.access_id or args.secret_key:
        (access_id, secret), *_ = base.apps.items()
        apps = dict(base.apps)
        apps.pop(access_id)
        apps[args.access_id or access_id] = args.secret_key or secret
        changes["apps"] = apps
    if args.apps_file:
        apps_so_far = changes.get("apps", base.apps)
        assert isinstance(apps_so_far, Mapping)
        changes["apps"] = {**apps_so_far, **load_apps_file(args.apps_file)}
    if args.no_rate_limit:
        changes["push_rate_limit"] = False
    if args.journal_size is not None:
        if args.journal_size < 0:
            raise ValueError("--journal-size must be 0 (off) or more")
        changes["journal_size"] = args.journal_size
    if args.tls:
        changes["tls"] = True
    if args.tls_hosts is not None:
        changes["tls_hosts"] = parse_names(args.tls_hosts, "--tls-hosts")
    if args.tls_dir is not None:
        changes["tls_dir"] = args.tls_dir
    return replace(base, **changes).checked()  # type: ignore[arg-type]


def shown_secret(secret: str) -> str:
    """The built-in secret is printed in full; one the user chose is only hinted at."""
    if secret == DEFAULT_SECRET_KEY:
        return secret
    return f"…{secret[-4:]} (as configured)" if len(secret) >= 12 else "(as configured)"


def banner(settings: Settings) -> str:
    scheme = "https" if settings.tls else "http"
    hosts = [listen.url_host(address) for address in listen.addresses(settings.host)]
    urls = "  ".join(f"{scheme}://{host}:{settings.port}" for host in hosts)
    lines = [
        f"tpns-mock starting on {urls}",
        f"  rules: {settings.rules.value}; data: {settings.data_dir or 'in memory (throwaway)'}",
    ]
    for access_id, secret in settings.apps.items():
        lines.append(f"  accepts AccessId {access_id} with SecretKey {shown_secret(secret)}")
    base = f"{scheme}://{hosts[0]}:{settings.port}"
    lines.append(f"  inspect: {base}/_mock/uploads   docs: /docs")
    if settings.tls:
        lines.append(
            f"  TLS: trust the CA {base}/_mock/ca.pem; the certificate also covers "
            + ", ".join((*TENCENT_HOSTS, *settings.tls_hosts))
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from_args(args, Settings.from_env())
        return serve(
            settings, log_level=args.log_level, announce=lambda s: print(banner(s), flush=True)
        )
    except ValueError as exc:
        print(f"tpns-mock: {exc}", file=sys.stderr)
        return 2
