"""``tpns-mock`` / ``python -m tpns_mock``: start the mock and say how to reach it."""

from __future__ import annotations

import argparse
import sys

from tpns_mock import listen
from tpns_mock.settings import DEFAULT_SECRET_KEY, Settings, add_arguments, from_args
from tpns_mock.store import StorageError
from tpns_mock.tls import TENCENT_HOSTS
from tpns_mock.workers import serve


def build_parser() -> argparse.ArgumentParser:
    """The flags come from the settings' declarations (tpns_mock.settings)."""
    parser = argparse.ArgumentParser(
        prog="tpns-mock",
        description="A local stand-in for Tencent Push Notification Service's number-package API.",
        epilog="Every flag has an environment variable (TPNS_MOCK_*); a flag wins. See README.md.",
    )
    add_arguments(parser)
    return parser


def settings_from_args(args: argparse.Namespace, base: Settings) -> Settings:
    """``base`` with the flags given on top (see ``tpns_mock.settings.from_args``)."""
    return from_args(args, base)


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
        return serve(settings, announce=lambda s: print(banner(s), flush=True))
    except (ValueError, OSError, StorageError) as exc:  # a bad setting (2); else 1: a busy
        print(f"tpns-mock: {exc}", file=sys.stderr)  # port, unusable files, a broken data dir
        return 2 if isinstance(exc, ValueError) else 1
