"""Running the server: one process, or ``--workers N`` processes on one port and one data dir.

uvicorn starts workers by importing an app factory in each fresh process, so the settings cannot
be handed over as an object: the parent writes them into the environment (the same
``TPNS_MOCK_*`` variables a user would set) and each worker reads them back with
``Settings.from_env()``. Flags therefore reach every worker exactly as they reached the parent.

The workers share state only through the data dir: SQLite in WAL mode hands out uploadIds
(AUTOINCREMENT inside ``BEGIN IMMEDIATE``), so ids stay unique and increasing whichever worker
answers, and any worker can show any upload. uvicorn's supervisor passes SIGTERM on to every
worker, and each finishes its in-flight requests before exiting. The listening sockets are
bound once, by :func:`tpns_mock.listen.bind` (one per address), and shared by the workers; they
set ``TCP_NODELAY``, which accepted connections inherit.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from uvicorn.supervisors import Multiprocess

from tpns_mock import allocator, listen, tls
from tpns_mock.app import create_app
from tpns_mock.settings import ALIASES, Settings
from tpns_mock.store import StorageError, Store

FACTORY = "tpns_mock.workers:app_from_env"
# h11 bounds request headers (a header block past 16 KiB is refused); httptools, which uvicorn
# would pick when installed, does not
HTTP = "h11"
BACKLOG = 2048
# glibc gives each thread that allocates its own arena; under mixed load a worker's memory then
# creeps up for minutes without the Python heap growing. Two arenas keep it level.
MALLOC_ARENA_MAX = "2"


def app_from_env() -> FastAPI:
    """What each worker process runs: a mock configured by the ``TPNS_MOCK_*`` environment."""
    allocator.tune()
    return create_app(Settings.from_env())


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes ``Settings.from_env()`` give back ``settings``: every declared
    setting's variable, so a new setting reaches the workers without a change here."""
    if settings.data_dir is None:
        raise ValueError("workers need a data dir they can share")
    return settings.to_env()


def serve(settings: Settings, *, announce: Callable[[Settings], None]) -> int:
    """Serve until SIGTERM or SIGINT, in one process or ``settings.workers``; the exit code.

    The sockets are bound here, once, and handed to uvicorn (one per address: both loopbacks by
    default), so every worker serves every address. With TLS on, the certificate is issued here
    before any worker starts. An in-memory mock gets one throwaway data dir, shared by all
    workers (and holding the TLS files) and removed when the last one has stopped.
    """
    allocator.tune()
    throwaway = settings.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="tpns-mock-")) if throwaway else settings.data_dir
    assert data_dir is not None
    try:
        running = replace(settings, data_dir=data_dir)
        certfile: str | None = None
        keyfile: str | None = None
        if settings.tls:
            running = replace(running, tls_dir=settings.tls_dir or data_dir / "tls")
            assert running.tls_dir is not None
            files = tls.prepare(running.tls_dir, tls.certificate_names(settings.tls_hosts))
            certfile, keyfile = str(files.cert), str(files.key)
        # an unusable data dir fails here, with one error instead of one per worker; this
        # also creates the schema and cleans up after a crash before any worker opens it
        try:
            Store(data_dir).close()
        except StorageError as exc:
            print(f"tpns-mock: {exc}", file=sys.stderr)
            return 1
        sockets = listen.bind(settings.host, settings.port)
        try:
            shown = replace(settings, port=sockets[0].getsockname()[1]) if sockets else settings
            log_level = settings.log_level
            if settings.workers > 1:
                for alias in ALIASES:  # the declared variables below say everything, exactly
                    if alias.env:
                        os.environ.pop(alias.env, None)
                os.environ.update(settings_env(running))
                os.environ.setdefault("MALLOC_ARENA_MAX", MALLOC_ARENA_MAX)
                config = uvicorn.Config(
                    FACTORY,
                    factory=True,
                    workers=settings.workers,
                    log_level=log_level,
                    http=HTTP,
                    backlog=BACKLOG,
                    ssl_certfile=certfile,
                    ssl_keyfile=keyfile,
                )
                announce(shown)
                Multiprocess(config, sockets=sockets).run()
                return 0
            config = uvicorn.Config(
                create_app(running),
                log_level=log_level,
                http=HTTP,
                backlog=BACKLOG,
                ssl_certfile=certfile,
                ssl_keyfile=keyfile,
            )
            server = uvicorn.Server(config)
            announce(shown)
            server.run(sockets=sockets)
            return 0 if server.started else 3
        finally:
            for sock in sockets:
                sock.close()
    finally:
        if throwaway:
            shutil.rmtree(data_dir, ignore_errors=True)
