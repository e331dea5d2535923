"""``tpns-mock`` / ``python -m tpns_mock``: start the mock and say how to reach it."""

from __future__ import annotations

import argparse
import socket
import sys
from dataclasses import replace

import uvicorn

from tpns_mock.app import create_app
from tpns_mock.settings import DEFAULT_SECRET_KEY, Settings, add_arguments, from_args
from tpns_mock.store import StorageError
from tpns_mock.workers import run_workers


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
    host = "localhost" if settings.host in ("0.0.0.0", "::") else settings.host
    lines = [
        f"tpns-mock starting on http://{host}:{settings.port}",
        f"  rules: {settings.rules.value}; data: {settings.data_dir or 'in memory (throwaway)'}",
    ]
    for access_id, secret in settings.apps.items():
        lines.append(f"  accepts AccessId {access_id} with SecretKey {shown_secret(secret)}")
    lines.append(f"  inspect: http://{host}:{settings.port}/_mock/uploads   docs: /docs")
    return "\n".join(lines)


def listen(host: str, port: int) -> socket.socket:
    """The server's socket, bound before anything is printed, so a busy port is one clear line
    (``OSError`` with it) instead of a banner followed by uvicorn's traceback-like log."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        reason = (exc.strerror or str(exc)).lower()
        raise OSError(
            f"cannot listen on {host}:{port}: {reason}; stop what is using it, or choose "
            "another --port / TPNS_MOCK_PORT"
        ) from None
    return sock


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from_args(args, Settings.from_env())
        sock = listen(settings.host, settings.port)
    except (ValueError, OSError) as exc:
        print(f"tpns-mock: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1
    if settings.workers > 1:
        sock.close()  # uvicorn's supervisor binds the port again for its workers
        return run_workers(settings, announce=lambda s: print(banner(s), flush=True))
    with sock:
        try:
            app = create_app(settings)
        except StorageError as exc:
            print(f"tpns-mock: {exc}", file=sys.stderr)
            return 1
        settings = replace(settings, port=sock.getsockname()[1])  # --port 0: the one chosen
        print(banner(settings), flush=True)
        config = uvicorn.Config(app, log_level=settings.log_level)
        uvicorn.Server(config).run(sockets=[sock])
    return 0
