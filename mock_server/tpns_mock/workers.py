"""``--workers N``: several server processes on one port and one data dir.

uvicorn starts workers by importing an app factory in each fresh process, so the settings cannot
be handed over as an object: the parent writes them into the environment (the same
``TPNS_MOCK_*`` variables a user would set) and each worker reads them back with
``Settings.from_env()``. Flags therefore reach every worker exactly as they reached the parent.

The workers share state only through the data dir: SQLite in WAL mode hands out uploadIds
(AUTOINCREMENT inside ``BEGIN IMMEDIATE``), so ids stay unique and increasing whichever worker
answers, and any worker can show any upload.

On Linux each worker binds its own listening socket with ``SO_REUSEPORT``, so the kernel spreads
connections over the workers (a kept-alive connection stays with the worker that accepted it;
with one shared socket, the worker that happens to be in ``accept`` first takes them all), and
the supervisor holds no socket: once the workers have closed theirs on SIGTERM, a new connection
is refused (the client may retry it) instead of being queued on a socket no one will accept
from and then reset. Every listening socket is created with ``IPPROTO_TCP`` and ``TCP_NODELAY``,
which accepted connections inherit: without it a keep-alive client waits on Nagle's algorithm
and delayed ACKs, about 40 ms a request. The supervisor passes SIGTERM on to every worker, and
each finishes its in-flight requests before exiting. Elsewhere uvicorn's own supervisor shares
one such socket.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from uvicorn.supervisors import Multiprocess

from tpns_mock.app import create_app
from tpns_mock.settings import ALIASES, Settings
from tpns_mock.store import Store

FACTORY = "tpns_mock.workers:app_from_env"
# h11 bounds request headers (a header block past 16 KiB is refused); httptools, which uvicorn
# would pick when installed, does not
HTTP = "h11"
BACKLOG = 2048
# glibc gives each thread that allocates its own arena; under mixed load a worker's memory then
# creeps up for minutes without the Python heap growing. Two arenas keep it level.
MALLOC_ARENA_MAX = "2"
# a worker that dies sooner than this after starting is not restarted: the server cannot start
STARTUP_S = 5.0


def app_from_env() -> FastAPI:
    """What each worker process runs: a mock configured by the ``TPNS_MOCK_*`` environment."""
    return create_app(Settings.from_env())


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes ``Settings.from_env()`` give back ``settings``: every declared
    setting's variable, so a new setting reaches the workers without a change here."""
    if settings.data_dir is None:
        raise ValueError("workers need a data dir they can share")
    return settings.to_env()


def run_workers(settings: Settings, *, announce: Callable[[Settings], None]) -> int:
    """Serve with ``settings.workers`` processes until SIGTERM or SIGINT; returns the exit code.

    An in-memory mock gets one throwaway data dir made here, shared by all workers and removed
    when the last one has stopped.
    """
    throwaway = settings.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="tpns-mock-")) if throwaway else settings.data_dir
    assert data_dir is not None
    try:
        # create the schema and clean up after a crash once, before any worker opens the store;
        # an unusable data dir fails here, with one error instead of one per worker
        Store(data_dir).close()
        for alias in ALIASES:  # the declared variables below say everything, exactly
            if alias.env:
                os.environ.pop(alias.env, None)
        os.environ.update(settings_env(replace(settings, data_dir=data_dir)))
        os.environ.setdefault("MALLOC_ARENA_MAX", MALLOC_ARENA_MAX)
        if not hasattr(socket, "SO_REUSEPORT") or not sys.platform.startswith("linux"):
            announce(settings)
            config = _config(settings.log_level, workers=settings.workers)
            sock = listening_socket(settings.host, settings.port)
            server = uvicorn.Server(config)
            Multiprocess(config, target=server.run, sockets=[sock]).run()
            return 0
        port = _free_to_bind(settings.host, settings.port)
        os.environ["TPNS_MOCK_PORT"] = str(port)
        announce(replace(settings, port=port))
        return _supervise(settings.workers)
    finally:
        if throwaway:
            shutil.rmtree(data_dir, ignore_errors=True)


def listening_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A TCP listening socket whose accepted connections have ``TCP_NODELAY`` (inherited)."""
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )[0]
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
        sock.set_inheritable(True)
    except BaseException:
        sock.close()
        raise
    return sock


def _free_to_bind(host: str, port: int) -> int:
    """The port the workers will share, after checking no one else holds it.

    Bound without ``SO_REUSEPORT``, so another server on the port (even another tpns-mock) is
    an "address in use" error here rather than a silent partner sharing our connections. Port
    0 picks a free port.
    """
    with listening_socket(host, port) as probe:
        return int(probe.getsockname()[1])


def _config(log_level: str, workers: int = 1) -> uvicorn.Config:
    return uvicorn.Config(
        FACTORY, factory=True, http=HTTP, log_level=log_level, workers=workers, backlog=BACKLOG
    )


def serve_worker() -> None:
    """One worker process: its own ``SO_REUSEPORT`` socket on the shared port, one server."""
    settings = Settings.from_env()
    sock = listening_socket(settings.host, settings.port, reuse_port=True)
    uvicorn.Server(_config(settings.log_level)).run(sockets=[sock])


def _supervise(count: int) -> int:
    """Run ``count`` workers until SIGTERM or SIGINT, replacing one that dies at run time."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    command = [sys.executable, "-m", "tpns_mock.workers"]

    def start() -> tuple[subprocess.Popen[bytes], float]:
        return subprocess.Popen(command), time.monotonic()

    workers = [start() for _ in range(count)]
    code = 0
    while not stop.wait(0.2):
        for index, (process, started) in enumerate(workers):
            if process.poll() is None:
                continue
            if time.monotonic() - started < STARTUP_S:
                print(
                    f"tpns-mock: a worker exited with {process.returncode} while starting",
                    file=sys.stderr,
                    flush=True,
                )
                code = 1
                stop.set()
                break
            workers[index] = start()
    for process, _ in workers:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process, _ in workers:
        process.wait()
    return code


if __name__ == "__main__":
    serve_worker()
