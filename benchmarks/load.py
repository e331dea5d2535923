"""Load for the benchmarks: a real ``tpns-mock`` process (or several workers), keep-alive clients,
and the memory of the processes serving them.

The clients are plain ``http.client`` connections sending prebuilt requests from threads, so a
client costs the (shared) CPU as little as a client written in Python can.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
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


def run_clients(
    port: int,
    choose: Callable[[int, int], Call],
    clients: int,
    seconds: float,
    on_answer: Callable[[Call, bytes], None] = lambda call, answer: None,
) -> tuple[Tally, float]:
    """``clients`` keep-alive connections sending ``choose(client, n)`` in a loop for
    ``seconds``; returns the tally and the elapsed wall time. A wrong answer stops its client."""
    tally = Tally()
    lock = threading.Lock()
    gate = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        latencies: list[float] = []
        gate.wait()
        n = 0
        try:
            while time.perf_counter() < stop_at[0]:
                call = choose(index, n)
                n += 1
                start = time.perf_counter()
                connection.request(call.method, call.path, body=call.body, headers=call.headers)
                response = connection.getresponse()
                answer = response.read()
                latencies.append((time.perf_counter() - start) * 1000)
                if response.status != 200 or call.expect not in answer:
                    with lock:
                        tally.errors.append(f"{call.path}: {answer[:200]!r}")
                    return
                on_answer(call, answer)
        except (OSError, http.client.HTTPException) as exc:
            with lock:
                tally.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()
            with lock:
                tally.count += len(latencies)
                tally.latencies_ms.extend(latencies)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + seconds
    started = time.perf_counter()
    gate.wait()
    for thread in threads:
        thread.join()
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
