"""Running the server: one process, or ``--workers N`` processes on one port and one data dir.

Workers are fresh processes, so the settings cannot be handed over as an object: the parent
writes them into the environment (the same ``TPNS_MOCK_*`` variables a user would set) and each
worker reads them back with ``Settings.from_env()``. Flags therefore reach every worker exactly
as they reached the parent.

The workers share state only through the data dir: SQLite in WAL mode hands out uploadIds
(AUTOINCREMENT inside ``BEGIN IMMEDIATE``), so ids stay unique and increasing whichever worker
answers, and any worker can show any upload.

How workers listen. On Linux each worker binds listening sockets of its own (one per address,
all on the one port, ``SO_REUSEPORT``), and the supervisor holds none that listens:

- the kernel spreads new connections over the workers' sockets. With one socket shared by
  every worker, whichever worker was in ``accept`` first took them, and a keep-alive client
  stays on the worker that accepted it: all 16 clients of a benchmark often ended on one
  worker, the other idle.
- on SIGTERM each worker closes its sockets before finishing its in-flight requests, and the
  kernel sends new connections only to sockets still listening; after the last, a client is
  refused, which it can safely retry. With a shared socket that the supervisor still held, new
  connections were queued on it with no one left to accept them, then reset when it closed:
  a reset client cannot tell whether its request (a push) went through.

The supervisor binds the port first, exclusively, so a port in use is one error naming the
address, and port 0 becomes one port every worker binds; it keeps those sockets bound but never
listening (:func:`tpns_mock.listen.hold`), so the port stays the mock's while workers come and
go. It passes SIGTERM and SIGINT on to every worker, starts a new worker for one that dies while
serving, and stops everything if one cannot start. Where ``SO_REUSEPORT`` does not spread
connections (not Linux), uvicorn's supervisor shares the parent's sockets with every worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.supervisors import Multiprocess

from tpns_mock import allocator, listen, tls
from tpns_mock.app import create_app
from tpns_mock.settings import ALIASES, Settings
from tpns_mock.storage_errors import identity
from tpns_mock.store import StorageError, Store

FACTORY = "tpns_mock.workers:app_from_env"
# h11 bounds request headers (a header block past 16 KiB is refused); httptools, which uvicorn
# would pick when installed, does not
HTTP = "h11"
BACKLOG = 2048
# glibc gives each thread that allocates its own arena; under mixed load a worker's memory then
# creeps up for minutes without the Python heap growing. Two arenas keep it level.
MALLOC_ARENA_MAX = "2"
# how long connections accepted as a server stops are given to send their requests
GRACE_S = 0.1
# a worker's exit code when it could not start serving (uvicorn's, for a failed startup)
STARTUP_FAILURE = 3
# what a worker writes to its supervisor once it serves
READY = b"1"
WORKER = [sys.executable, "-m", "tpns_mock.workers"]
# prctl's option asking the kernel for a signal when the parent process dies (Linux)
PR_SET_PDEATHSIG = 1


def app_from_env() -> FastAPI:
    """What each worker runs where the workers share the parent's sockets (uvicorn's supervisor
    imports it by name): a mock configured by the ``TPNS_MOCK_*`` environment."""
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

    The sockets are bound here first (one per address: both loopbacks by default), so a busy
    port fails before any worker starts; one process serves on them, several workers each bind
    their own beside them (see the module's docstring). With TLS on, the certificate is issued
    here before any worker starts. An in-memory mock gets one throwaway data dir, shared by all
    workers (and holding the TLS files) and removed when the last one has stopped.
    """
    allocator.tune()
    throwaway = settings.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="tpns-mock-")) if throwaway else settings.data_dir
    assert data_dir is not None
    try:
        running = replace(settings, data_dir=data_dir)
        if settings.tls:
            running = replace(running, tls_dir=settings.tls_dir or data_dir / "tls")
            assert running.tls_dir is not None
            tls.prepare(running.tls_dir, tls.certificate_names(settings.tls_hosts))
        # an unusable data dir fails here, with one error instead of one per worker; this
        # also creates the schema and cleans up after a crash before any worker opens it
        try:
            Store(data_dir).close()
        except StorageError as exc:
            print(f"tpns-mock: {exc}", file=sys.stderr)
            return 1
        sockets = listen.bind(settings.host, settings.port)
        try:
            if sockets:  # port 0: the port the kernel chose, for the banner and every worker
                running = replace(running, port=sockets[0].getsockname()[1])
            shown = replace(settings, port=running.port)
            if settings.workers > 1:
                for alias in ALIASES:  # the declared variables below say everything, exactly
                    if alias.env:
                        os.environ.pop(alias.env, None)
                os.environ.update(settings_env(running))
                os.environ.setdefault("MALLOC_ARENA_MAX", MALLOC_ARENA_MAX)
                if listen.SHARES_PORT:
                    listen.hold(sockets)
                    announce(shown)
                    return supervise(settings.workers, data_dir)
                config = server_config(FACTORY, running, factory=True, workers=settings.workers)
                announce(shown)
                Multiprocess(config, sockets=sockets).run()
                return 0
            server = Server(server_config(create_app(running), running))
            announce(shown)
            server.run(sockets=sockets)
            return 0 if server.started else STARTUP_FAILURE
        finally:
            for sock in sockets:
                sock.close()
    finally:
        if throwaway:
            shutil.rmtree(data_dir, ignore_errors=True)


def server_config(app: FastAPI | str, settings: Settings, **more: Any) -> uvicorn.Config:
    """uvicorn's configuration for serving ``app``, with what every server of the mock shares:
    the log level, the HTTP parser, the backlog and, with TLS on, the files the supervisor (or
    the one process) prepared."""
    certfile = keyfile = None
    if settings.tls:
        assert settings.tls_dir is not None
        files = tls.server_files(settings.tls_dir)
        certfile, keyfile = str(files.cert), str(files.key)
    return uvicorn.Config(
        app,
        log_level=settings.log_level,
        http=HTTP,
        backlog=BACKLOG,
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
        **more,
    )


class Worker:
    """A worker process, and the pipe on which it says it has started serving."""

    def __init__(self) -> None:
        self._ready_fd, write = os.pipe()
        try:
            self.process = subprocess.Popen(
                [*WORKER, str(write), str(os.getpid())], pass_fds=(write,)
            )
        except BaseException:
            os.close(self._ready_fd)
            raise
        finally:
            os.close(write)
        os.set_blocking(self._ready_fd, False)
        self.started = False

    def check(self) -> int | None:
        """The exit code once the process has exited (noting first whether it had started)."""
        if not self.started and self._ready_fd >= 0:
            try:
                self.started = os.read(self._ready_fd, 1) == READY
            except BlockingIOError:
                pass
            else:
                os.close(self._ready_fd)
                self._ready_fd = -1
        return self.process.poll()

    def stop(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self) -> None:
        self.process.wait()
        if self._ready_fd >= 0:
            os.close(self._ready_fd)
            self._ready_fd = -1


def supervise(count: int, data_dir: Path | None = None) -> int:
    """Run ``count`` workers until SIGTERM or SIGINT; the exit code.

    Each signal is passed on to every worker at once (each then closes its sockets and finishes
    its in-flight requests). A worker that dies after it started serving is replaced; one that
    dies before stops them all, exit code 1: the next would fail the same way. So does one that
    dies once ``data_dir`` was deleted or replaced: its replacement would make a new, empty data
    dir and serve it beside workers still holding the old one.
    """
    home = _identity(data_dir)
    workers: list[Worker] = []
    stopping: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        stopping.append(signum)
        for worker in workers:
            worker.stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    code = 0
    try:
        for _ in range(count):
            if not stopping:
                workers.append(Worker())
        while not stopping:
            time.sleep(0.1)
            for index, worker in enumerate(workers):
                exit_code = worker.check()
                if exit_code is None or stopping:
                    continue
                if not worker.started:
                    print(
                        f"tpns-mock: a worker could not start (exit code {exit_code})",
                        file=sys.stderr,
                        flush=True,
                    )
                    code = 1
                    stop(signal.SIGTERM, None)
                    break
                if _identity(data_dir) != home:
                    print(
                        f"tpns-mock: worker {worker.process.pid} exited with {exit_code}, and"
                        f" the data dir {str(data_dir)!r} was deleted or replaced while the mock"
                        " ran; stopping (restart the mock)",
                        file=sys.stderr,
                        flush=True,
                    )
                    code = 1
                    stop(signal.SIGTERM, None)
                    break
                print(
                    f"tpns-mock: worker {worker.process.pid} exited with {exit_code};"
                    " starting another",
                    file=sys.stderr,
                    flush=True,
                )
                workers[index] = Worker()
    finally:
        stop(signal.SIGTERM, None)
        for worker in workers:
            worker.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code


def _identity(data_dir: Path | None) -> tuple[int, int] | None:
    """Which dir ``data_dir`` names (device, inode), or None when it is gone or not given."""
    if data_dir is None:
        return None
    try:
        return identity(data_dir)
    except OSError:
        return None


class Server(uvicorn.Server):
    """uvicorn's server, stopping so that a client's new connection is answered or refused,
    not reset (but for the moment ``_stop_listening`` describes).

    uvicorn stops listening and at once closes every connection that is not in a request. A
    connection the kernel had queued but no one had accepted yet is reset when its listening
    socket closes, and one accepted a moment before has usually not been read yet: closing a
    socket with its request unread resets it too. So this server accepts what is queued right
    before closing each listening socket, and gives the connections it has a moment
    (``GRACE_S``) to send their requests, which are then answered, before uvicorn's shutdown.
    """

    def __init__(self, config: uvicorn.Config, *, ready_fd: int | None = None) -> None:
        super().__init__(config)
        self.ready_fd = ready_fd  # where to say, once, that this server has started serving

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.ready_fd is not None:
            os.write(self.ready_fd, READY)
            os.close(self.ready_fd)
            self.ready_fd = None

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        loop = asyncio.get_running_loop()
        late: list[socket.socket] = []
        for server, sock in zip(self.servers, sockets or [], strict=False):
            late.extend(_stop_listening(sock))
            server.close()
        accepting = [
            asyncio.ensure_future(
                loop.connect_accepted_socket(self._protocol, conn, ssl=self.config.ssl)
            )
            for conn in late
        ]
        if accepting:
            await asyncio.wait(accepting, timeout=GRACE_S)
        await asyncio.sleep(GRACE_S)
        for task in accepting:
            task.cancel()
        await super().shutdown(sockets)

    def _protocol(self) -> asyncio.Protocol:
        """A connection's protocol, made as uvicorn makes it for the connections it accepts."""
        return self.config.http_protocol_class(  # type: ignore[call-arg]
            config=self.config, server_state=self.server_state, app_state=self.lifespan.state
        )


def _stop_listening(sock: socket.socket) -> list[socket.socket]:
    """Stop ``sock`` (a non-blocking listening socket) listening; the connections that were
    waiting on it, accepted.

    The last accept and the shutdown are two system calls in a row: a connection queued in
    between is still reset. The moment is a few microseconds, not an event loop's turn, unless
    the process is preempted right there (on a busy machine, about once in 30 shutdowns).
    """
    found: list[socket.socket] = []
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:  # none left (BlockingIOError), or the socket is gone
            break
        conn.setblocking(False)
        found.append(conn)
    # Linux: no longer listening, new connections go elsewhere; where a listening socket
    # cannot be shut down, closing it follows at once
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    return found


def follows_supervisor(supervisor: int) -> bool:
    """Have the kernel send this worker SIGTERM when its supervisor dies, however it dies (a
    SIGKILL passes no signal on, and a worker left serving would hold the port with no one to
    stop it); False if the supervisor is gone already."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    return os.getppid() == supervisor


def serve_worker(ready_fd: int | None = None, supervisor: int | None = None) -> int:
    """One worker (``python -m tpns_mock.workers READY_FD SUPERVISOR_PID``): sockets of its own
    on the supervisor's port, the mock the ``TPNS_MOCK_*`` environment describes; the exit
    code. Once it serves it says so on ``ready_fd``; it stops when the supervisor dies."""
    if supervisor is not None and not follows_supervisor(supervisor):
        return 0
    allocator.tune()
    settings = Settings.from_env()
    try:
        sockets = listen.bind(settings.host, settings.port, reuse_port=True)
    except OSError as exc:
        print(f"tpns-mock: {exc}", file=sys.stderr, flush=True)
        return STARTUP_FAILURE
    server = Server(server_config(create_app(settings), settings), ready_fd=ready_fd)
    server.run(sockets=sockets)  # closes them when it stops
    return 0 if server.started else STARTUP_FAILURE


if __name__ == "__main__":
    arguments = [int(argument) for argument in sys.argv[1:3]]
    sys.exit(serve_worker(*arguments))
