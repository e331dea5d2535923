"""Load for the benchmarks: a real ``tpns-mock`` process (or several workers), keep-alive clients,
and the memory of the processes serving them.

The clients are keep-alive connections driven by one thread (a selector) sending prebuilt
requests, so a client costs the (shared) CPU as little as a client written in Python can.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
AUTH = ("1500000001", "tpns-mock-secret-key")
BASIC = "Basic " + base64.b64encode(":".join(AUTH).encode()).decode()
UPLOAD = "/v3/push/package/upload"
PUSH = "/v3/push/app"
BOUNDARY = "tpnsmockbench"


@dataclass(frozen=True)
class Call:
    """One prebuilt HTTP request and what its answer must hold to count as right."""

    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    expect: bytes = b""


def multipart(file_name: str, content: bytes) -> tuple[bytes, str]:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{file_name}"\r\nContent-Type: application/zip\r\n\r\n'
    ).encode()
    return head + content + f"\r\n--{BOUNDARY}--\r\n".encode(), (
        f"multipart/form-data; boundary={BOUNDARY}"
    )


def upload_call(file_name: str, content: bytes) -> Call:
    body, content_type = multipart(file_name, content)
    return Call(
        "POST",
        UPLOAD,
        body,
        {"Content-Type": content_type, "Authorization": BASIC},
        b'"retCode":0',
    )


def push_call(upload_id: int) -> Call:
    body = {
        "audience_type": "package_account_push",
        "upload_id": upload_id,
        "message_type": "notify",
        "message": {"title": "soak", "content": "soak"},
    }
    return Call(
        "POST",
        PUSH,
        json.dumps(body).encode(),
        {"Content-Type": "application/json", "Authorization": BASIC},
        b'"ret_code":0',
    )


HEALTH = Call("GET", "/_mock/health", expect=b'"status":"ok"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def pids(self) -> list[int]:
        """The processes that answer requests: the workers, or the one server process."""
        children = _children(self.process.pid)
        return children or [self.process.pid]

    def rss_mb(self) -> list[float]:
        return [_status_mb(pid, "VmRSS") for pid in self.pids()]

    def peak_rss_mb(self) -> float:
        """VmHWM: the most resident memory a serving process has had since it started."""
        return max(_status_mb(pid, "VmHWM") for pid in self.pids())

    def cpu_s(self) -> float:
        """CPU seconds used so far by the serving processes."""
        total = 0.0
        for pid in self.pids():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        return total / _CLOCK_TICKS

    def reset(self) -> None:
        httpx.post(f"{self.url}/_mock/reset", timeout=60).raise_for_status()

    def wait_for_workers(self, count: int) -> None:
        """Until ``count`` distinct processes have answered (workers start one by one)."""
        pids: set[int] = set()
        deadline = time.monotonic() + 30
        while len(pids) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(pids)} of {count} workers answered")
            with httpx.Client(timeout=10) as fresh:
                pids.add(fresh.get(f"{self.url}/_mock/health").json()["pid"])


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def _status_mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {key} in /proc/{pid}/status")


@contextlib.contextmanager
def server(data_dir: Path, *flags: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    """A ``tpns-mock`` process on a free port, healthy, stopped (SIGTERM) afterwards."""
    port = free_port()
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "tpns_mock", "--port", str(port)),
            *("--data-dir", str(data_dir), "--log-level", "warning", *flags),
        ],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/_mock/health", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("tpns-mock did not start")
            time.sleep(0.1)
        yield Server(url, process)
    finally:
        process.terminate()
        process.wait(timeout=60)


@dataclass
class Tally:
    """What a load run did: answers counted, latencies kept (ms), the first wrong answer."""

    count: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def request_bytes(call: Call, port: int) -> bytes:
    """``call`` as it goes on the wire: HTTP/1.1, kept alive."""
    lines = [f"{call.method} {call.path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{name}: {value}" for name, value in call.headers.items()]
    if call.body is not None:
        lines.append(f"Content-Length: {len(call.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (call.body or b"")


def parse_answer(buffer: bytearray) -> tuple[int, bytes, int] | None:
    """(status, body, bytes used) of the HTTP/1.1 answer at the start of ``buffer``, once it is
    all there (a Content-Length or a chunked body); None until then."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end]).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    fields = {
        k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])
    }
    at = end + 4
    if fields.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        while True:
            line_end = buffer.find(b"\r\n", at)
            if line_end < 0:
                return None
            size = int(bytes(buffer[at:line_end]).split(b";")[0], 16)
            if len(buffer) < line_end + 2 + size + 2:
                return None
            body += buffer[line_end + 2 : line_end + 2 + size]
            at = line_end + 2 + size + 2
            if size == 0:
                return status, bytes(body), at
    length = int(fields.get("content-length", "0"))
    if len(buffer) < at + length:
        return None
    return status, bytes(buffer[at : at + length]), at + length


@dataclass
class _Client:
    index: int
    sock: socket.socket
    n: int = 0
    call: Call | None = None
    out: memoryview = field(default_factory=lambda: memoryview(b""))
    received: bytearray = field(default_factory=bytearray)
    started: float = 0.0
    events: int = 0  # what the selector waits for on this connection
    latencies: list[float] = field(default_factory=list)


def run_clients(
    port: int,
    choose: Callable[[int, int], Call],
    clients: int,
    seconds: float,
    on_answer: Callable[[Call, bytes], None] = lambda call, answer: None,
) -> tuple[Tally, float]:
    """``clients`` keep-alive connections sending ``choose(client, n)`` in a loop for
    ``seconds``; returns the tally and the elapsed wall time. A wrong answer stops its client.

    One thread drives every connection (a selector, prebuilt bytes, the answer parsed only as
    far as its length): a Python client costs the shared CPU a few tens of microseconds a
    request, where ``http.client`` on a thread each cost about 190, which with two workers on
    two cores was CPU taken from the server being measured."""
    tally = Tally()
    selector = selectors.DefaultSelector()
    pending: list[_Client] = []
    for index in range(clients):
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        pending.append(_Client(index, sock))

    prebuilt: dict[int, tuple[Call, bytes]] = {}  # by id(call): a repeated call is built once

    def send_next(client: _Client) -> None:
        call = client.call = choose(client.index, client.n)
        client.n += 1
        built = prebuilt.get(id(call))
        if built is None or built[0] is not call:
            if len(prebuilt) > 64:
                prebuilt.clear()
            built = prebuilt[id(call)] = (call, request_bytes(call, port))
        client.out = memoryview(built[1])
        client.started = time.perf_counter()
        write(client)

    def write(client: _Client) -> None:
        try:
            sent = client.sock.send(client.out)
        except BlockingIOError:
            sent = 0
        client.out = client.out[sent:]
        events = selectors.EVENT_WRITE if client.out else selectors.EVENT_READ
        if client.events != events:  # usually all is sent at once: no change to wait for
            if client.events:
                selector.modify(client.sock, events, client)
            else:
                selector.register(client.sock, events, client)
            client.events = events

    def finish(client: _Client, error: str | None = None) -> None:
        if error:
            tally.errors.append(error)
        selector.unregister(client.sock)
        client.sock.close()
        tally.count += len(client.latencies)
        tally.latencies_ms.extend(client.latencies)

    started = time.perf_counter()
    stop_at = started + seconds
    for client in pending:
        send_next(client)
    give_up = stop_at + 120
    while selector.get_map():
        if time.perf_counter() > give_up:
            for key in list(selector.get_map().values()):
                finish(key.data, "TimeoutError: no answer in 120 s")
            break
        for key, _mask in selector.select(timeout=1):
            client = key.data
            if client.out:
                write(client)
                continue
            try:
                chunk = client.sock.recv(262144)
            except BlockingIOError:
                continue
            except OSError as exc:
                finish(client, f"{type(exc).__name__}: {exc}")
                continue
            if not chunk:
                finish(client, "the server closed the connection")
                continue
            client.received += chunk
            answer = parse_answer(client.received)
            if answer is None:
                continue
            status, body, used = answer
            del client.received[:used]
            now = time.perf_counter()
            assert client.call is not None
            client.latencies.append((now - client.started) * 1000)
            if status != 200 or client.call.expect not in body:
                finish(client, f"{client.call.path}: {body[:200]!r}")
            elif now >= stop_at:
                on_answer(client.call, body)
                finish(client)
            else:
                on_answer(client.call, body)
                send_next(client)
    selector.close()
    return tally, time.perf_counter() - started


def rate(port: int, call: Call, clients: int, seconds: float) -> float:
    """Right answers per second to ``call`` from ``clients`` keep-alive connections."""
    tally, elapsed = run_clients(port, lambda _c, _n: call, clients, seconds)
    if tally.errors:
        raise RuntimeError(f"{call.path} failed: {tally.errors[0]}")
    return tally.count / elapsed


def one_connection_latencies(port: int, call: Call, requests: int) -> list[float]:
    """Latencies (ms) of ``requests`` sequential calls on one kept-alive connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    latencies = []
    try:
        for _ in range(requests):
            start = time.perf_counter()
            connection.request(call.method, call.path, body=call.body, headers=call.headers)
            response = connection.getresponse()
            answer = response.read()
            latencies.append((time.perf_counter() - start) * 1000)
            if response.status != 200 or call.expect not in answer:
                raise RuntimeError(f"{call.path} failed: {answer[:200]!r}")
    finally:
        connection.close()
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]
