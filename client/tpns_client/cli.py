"""``tpns upload PATH``: upload a number package from the shell and print its uploadId.

Credentials come from the environment only (``TPNS_ACCESS_ID``, ``TPNS_SECRET_KEY``), never from
flags, so they stay out of shell history and ``ps``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from tpns_client.errors import TPNSError
from tpns_client.protocol.paths import REGIONS
from tpns_client.sync import TPNSClient

PROGRESS_MIN_BYTES = 1024 * 1024


class ProgressBar:
    """A one-line bar on a terminal: ``[#####-----]  42%  12.3/29.0 MiB``."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self._last = -1.0

    def __call__(self, sent: int, total: int) -> None:
        if total < PROGRESS_MIN_BYTES:
            return
        now = time.monotonic()
        if sent < total and now - self._last < 0.1:
            return
        self._last = now
        filled = self.width * sent // total
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(
            f"\r[{bar}] {100 * sent // total:3d}%  {sent / 2**20:.1f}/{total / 2**20:.1f} MiB"
        )
        if sent >= total:
            self.stream.write("\n")
        self.stream.flush()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tpns",
        description="Talk to TPNS (or tpns-mock). Credentials: TPNS_ACCESS_ID, TPNS_SECRET_KEY.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    upload = commands.add_parser(
        "upload",
        help="upload a number package and print its uploadId",
        description="PATH is a .zip (sent as is), a .txt (zipped first) or - "
        "(accounts on stdin, one per line).",
    )
    upload.add_argument(
        "path", metavar="PATH", help="a .zip (sent as is), a .txt (zipped first), or - for stdin"
    )
    where = upload.add_mutually_exclusive_group()
    where.add_argument("--region", choices=sorted(REGIONS), help="Tencent region (guangzhou)")
    where.add_argument("--base-url", help="e.g. http://localhost:8080 for tpns-mock")
    upload.add_argument(
        "--auth",
        choices=["sign", "basic"],
        default="sign",
        help="Tencent's signature (default) or HTTP Basic",
    )
    upload.add_argument(
        "--no-validate", action="store_true", help="send without checking the rules locally"
    )
    upload.add_argument(
        "--rules",
        choices=["seed", "current"],
        default="seed",
        help="the document the local check follows: seed (default; a .zip holding one .txt) "
        "or current (Tencent's newer one: also a .txt or .csv)",
    )
    bar = upload.add_mutually_exclusive_group()
    bar.add_argument("--progress", action="store_true", default=None, help="always show a bar")
    bar.add_argument(
        "--no-progress", dest="progress", action="store_false", help="never show a bar"
    )
    return parser


@contextlib.contextmanager
def _spooled_stdin(stream: BinaryIO) -> Iterator[Path]:
    """Stdin's bytes, as they are, in a temporary ``accounts.txt`` (removed afterwards).

    Read as bytes, never decoded with the locale: the file then takes the very path of a
    ``.txt`` given by name (UTF-8 checked line by line, BOM and CRLF handled the same way), so
    ``tpns upload - < vips.txt`` and ``tpns upload vips.txt`` cannot differ.
    """
    folder = Path(tempfile.mkdtemp(prefix="tpns-stdin-"))
    try:
        path = folder / "accounts.txt"
        with path.open("wb") as handle:
            shutil.copyfileobj(stream, handle)
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    access_id = os.environ.get("TPNS_ACCESS_ID")
    secret_key = os.environ.get("TPNS_SECRET_KEY")
    if not access_id or not secret_key:
        print("tpns: set TPNS_ACCESS_ID and TPNS_SECRET_KEY in the environment", file=sys.stderr)
        return 2
    show = sys.stderr.isatty() if args.progress is None else args.progress
    try:
        tpns = TPNSClient(
            access_id,
            secret_key,
            region=args.region,
            base_url=args.base_url,
            auth=args.auth,
            rules=args.rules,
        )
    except ValueError as error:
        print(f"tpns: {error}", file=sys.stderr)
        return 2
    named: contextlib.AbstractContextManager[str | Path] = contextlib.nullcontext(args.path)
    source_manager = _spooled_stdin(sys.stdin.buffer) if args.path == "-" else named
    try:
        with tpns, source_manager as source:
            result = tpns.upload_package(
                source,
                validate=not args.no_validate,
                progress=ProgressBar(sys.stderr) if show else None,
            )
    except TPNSError as error:
        print(f"tpns: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"tpns: {error}", file=sys.stderr)
        return 1
    print(result.upload_id)
    return 0
