"""Measure tpns-mock against the machine it runs on, and write docs/benchmarks.md.

    python benchmarks/run.py            # the full run (a few minutes on 2 cores)
    python benchmarks/run.py --quick    # a smoke run on small packages; prints, writes nothing

Every figure is measured beside a reference taken on the same file in the same run, so the
ratios mean something on any machine: the reference is ``unzip -p PKG | wc -l`` (C inflate and a
line count), which is as fast as anything can read a package. Timings are the median of
``--runs`` repeats. Needs ``unzip`` and ``wc``; uploads go through ``curl`` when it is installed
(so the client costs the server no CPU to speak of), else through httpx.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from packages import LIMIT_BYTES, largest_package, write_package  # noqa: E402
from tpns_client.protocol import package  # noqa: E402
from tpns_client.protocol.package import validate_package  # noqa: E402
from tpns_mock.settings import DEFAULT_ACCESS_ID, DEFAULT_SECRET_KEY  # noqa: E402

AUTH = (DEFAULT_ACCESS_ID, DEFAULT_SECRET_KEY)
UPLOAD = "/v3/push/package/upload"
# the part of docs/benchmarks.md that benchmarks/hostile.py writes, kept when this script writes
HOSTILE_START = "<!-- hostile: written by benchmarks/hostile.py -->"
HOSTILE_END = "<!-- /hostile -->"
TARGETS = {
    "validation": 0.8,
    "end to end": 1.5,
    "peak RSS MB": 150.0,
    "health p99 ms": 100.0,
    "small uploads/s": 300.0,
}


@dataclass
class Package:
    label: str
    path: Path
    accounts: int

    @property
    def size(self) -> int:
        return self.path.stat().st_size


@dataclass
class Row:
    measure: str
    package: str
    value: str
    reference: str
    ratio: str
    target: str
    met: bool | None


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        print(
            f"  {row.measure:<34} {row.package:<26} {row.value:>12} {row.reference:>10} "
            f"{row.ratio:>7} {row.target:>10} {_mark(row.met)}",
            flush=True,
        )


def _mark(met: bool | None) -> str:
    return "" if met is None else "yes" if met else "**no**"


# -- machine ---------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "CPU": cpu,
        "cores": str(cores),
        "RAM": ram,
        "Python": platform.python_version(),
        "OS": platform.platform(),
        "inflater": package.INFLATER,
    }


# -- helpers ---------------------------------------------------------------------------------


def timed(action: Callable[[], object], runs: int) -> float:
    """The median wall time of ``runs`` calls, in seconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def reference(pkg: Package, runs: int) -> float:
    """``unzip -p PKG | wc -l``: C inflate (with its CRC check) and a C line count."""

    def run() -> None:
        out = subprocess.run(
            f"unzip -p '{pkg.path}' | wc -l", shell=True, check=True, capture_output=True
        ).stdout
        if int(out) != pkg.accounts:
            raise RuntimeError(f"unzip counted {int(out)} lines, not {pkg.accounts}")

    return timed(run, runs)


def validate(pkg: Package, runs: int) -> float:
    def run() -> None:
        with pkg.path.open("rb") as handle:
            summary = validate_package(handle, pkg.path.name)
        if summary.account_count != pkg.accounts:
            raise RuntimeError(f"validated {summary.account_count}, not {pkg.accounts}")

    return timed(run, runs)


@contextlib.contextmanager
def stdlib_zlib() -> Iterator[None]:
    """Validate with the standard library's zlib, as on a machine without isal."""
    saved = package._zlib
    package._zlib = zlib  # type: ignore[assignment]
    try:
        yield
    finally:
        package._zlib = saved


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]

    def peak_rss_mb(self) -> float:
        """VmHWM: the most resident memory the server process has had since it started."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM in /proc/PID/status")

    def reset(self) -> None:
        httpx.post(f"{self.url}/_mock/reset", timeout=30).raise_for_status()


@contextlib.contextmanager
def server(data_dir: Path) -> Iterator[Server]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tpns_mock",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
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
        process.wait(timeout=30)


def upload(url: str, pkg: Package) -> None:
    """Upload one package the way a user's tool would; raise unless it was accepted."""
    if shutil.which("curl"):
        out = subprocess.run(
            [
                "curl",
                "-sS",
                "-H",
                "Expect:",
                "-u",
                ":".join(AUTH),
                "-F",
                f"file=@{pkg.path}",
                f"{url}{UPLOAD}",
            ],
            check=True,
            capture_output=True,
        ).stdout
        body = httpx.Response(200, content=out).json()
    else:
        with pkg.path.open("rb") as handle:
            body = httpx.post(
                f"{url}{UPLOAD}", files={"file": (pkg.path.name, handle)}, auth=AUTH, timeout=600
            ).json()
    if body.get("retCode") != 0:
        raise RuntimeError(f"upload of {pkg.label} refused: {body}")


def end_to_end(srv: Server, pkg: Package, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        upload(srv.url, pkg)
        times.append(time.perf_counter() - start)
        srv.reset()
    return statistics.median(times)


def health_during_upload(srv: Server, pkg: Package) -> list[float]:
    """Poll /_mock/health every 10 ms for as long as one large upload takes; latencies in ms."""
    latencies: list[float] = []
    done = threading.Event()

    def poll() -> None:
        with httpx.Client(timeout=30) as client:
            while not done.is_set():
                start = time.perf_counter()
                client.get(f"{srv.url}/_mock/health").raise_for_status()
                latencies.append((time.perf_counter() - start) * 1000)
                time.sleep(0.01)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        upload(srv.url, pkg)
    finally:
        done.set()
        poller.join()
    srv.reset()
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def multipart_body(pkg: Package) -> tuple[bytes, str]:
    boundary = "tpnsmockbench"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{pkg.path.name}"\r\nContent-Type: application/zip\r\n\r\n'
    ).encode()
    body += pkg.path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def small_uploads_per_second(srv: Server, pkg: Package, clients: int, seconds: float) -> float:
    """Accepted uploads per second with ``clients`` keep-alive connections uploading in a loop.

    The clients are plain ``http.client`` connections sending a prebuilt body, so they cost
    the (shared) CPU as little as a client in Python can.
    """
    import base64

    body, content_type = multipart_body(pkg)
    headers = {
        "Content-Type": content_type,
        "Authorization": "Basic " + base64.b64encode(":".join(AUTH).encode()).decode(),
    }
    port = int(srv.url.rsplit(":", 1)[1])
    counts = [0] * clients
    errors: list[str] = []
    start_gate = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        start_gate.wait()
        while time.perf_counter() < stop_at[0]:
            connection.request("POST", UPLOAD, body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            if response.status != 200 or b'"retCode":0' not in answer:
                errors.append(answer.decode(errors="replace")[:200])
                return
            counts[index] += 1
        connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + seconds
    started = time.perf_counter()
    start_gate.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"small upload failed: {errors[0]}")
    srv.reset()
    return sum(counts) / elapsed


# -- the run ---------------------------------------------------------------------------------


def make_packages(work: Path, quick: bool) -> list[Package]:
    million = 100_000 if quick else 1_000_000
    limit = 8 * 1024 * 1024 if quick else LIMIT_BYTES
    limit_label = f"{limit / 2**20:g} MiB"
    packages = []
    path = work / "small.zip"
    write_package(path, "token", 100)
    packages.append(Package("small (100 tokens)", path, 100))
    for kind in ("token", "phone"):
        path = work / f"{kind}-{million}.zip"
        write_package(path, kind, million)
        packages.append(Package(f"{million:,} {kind}s", path, million))
    for kind in ("token", "phone"):
        path = work / f"{kind}-largest.zip"
        count = largest_package(path, kind, limit)
        packages.append(Package(f"{count:,} {kind}s ({limit_label})", path, count))
    for pkg in packages:
        print(f"  {pkg.label}: {pkg.size:,} bytes", flush=True)
    return packages


def ratio_row(measure: str, pkg: Package, value: float, ref: float, target: float) -> Row:
    ratio = value / ref
    return Row(
        measure,
        pkg.label,
        f"{value:.3f} s",
        f"{ref:.3f} s",
        f"{ratio:.2f}x",
        f"≤ {target:g}x",
        ratio <= target,
    )


def run(args: argparse.Namespace) -> Report:
    report = Report()
    runs = args.runs or (1 if args.quick else 3)
    with tempfile.TemporaryDirectory(prefix="tpns-bench-", dir=args.work_dir) as tmp:
        work = Path(tmp)
        print("packages:", flush=True)
        packages = make_packages(work, args.quick)
        small, *large = packages
        largest = large[-2:]
        print("measures:", flush=True)
        refs = {pkg.label: reference(pkg, runs) for pkg in large}
        for pkg in large:
            report.add(
                ratio_row(
                    "validation (isal)" if package.INFLATER == "isal" else "validation",
                    pkg,
                    validate(pkg, runs),
                    refs[pkg.label],
                    TARGETS["validation"],
                )
            )
        if package.INFLATER != "zlib":
            with stdlib_zlib():
                for pkg in large:
                    row = ratio_row(
                        "validation (stdlib zlib fallback)",
                        pkg,
                        validate(pkg, runs),
                        refs[pkg.label],
                        TARGETS["validation"],
                    )
                    row.met = None  # informational: the reason isal is a dependency
                    row.target = f"({row.target})"
                    report.add(row)
        with server(work / "data-e2e") as srv:
            for pkg in large:
                report.add(
                    ratio_row(
                        "end to end (loopback HTTP)",
                        pkg,
                        end_to_end(srv, pkg, runs),
                        refs[pkg.label],
                        TARGETS["end to end"],
                    )
                )
        for pkg in largest:
            with server(work / f"data-rss-{pkg.path.stem}") as srv:
                upload(srv.url, pkg)
                peak = srv.peak_rss_mb()
            report.add(
                Row(
                    "server peak RSS (VmHWM)",
                    pkg.label,
                    f"{peak:.0f} MB",
                    "",
                    "",
                    f"< {TARGETS['peak RSS MB']:g} MB",
                    peak < TARGETS["peak RSS MB"],
                )
            )
        with server(work / "data-health") as srv:
            latencies = health_during_upload(srv, largest[0])
        p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
        report.add(
            Row(
                "/_mock/health p50 during upload",
                largest[0].label,
                f"{p50:.1f} ms",
                "",
                "",
                "",
                None,
            )
        )
        report.add(
            Row(
                f"/_mock/health p99 ({len(latencies)} polls)",
                largest[0].label,
                f"{p99:.1f} ms",
                "",
                "",
                f"< {TARGETS['health p99 ms']:g} ms",
                p99 < TARGETS["health p99 ms"],
            )
        )
        seconds = 1.0 if args.quick else 4.0
        with server(work / "data-small") as srv:
            for clients in (1, 8, 32):
                rate = small_uploads_per_second(srv, small, clients, seconds)
                report.add(
                    Row(
                        f"small uploads/s, {clients} client{'s' * (clients > 1)}",
                        small.label,
                        f"{rate:.0f}/s",
                        "",
                        "",
                        f"≥ {TARGETS['small uploads/s']:g}/s",
                        rate >= TARGETS["small uploads/s"],
                    )
                )
    return report


def markdown(report: Report, facts: dict[str, str], args: argparse.Namespace) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Written by `python benchmarks/run.py` (do not edit by hand; edit the notes in the",
        "script). Every timing is the median of "
        f"{args.runs or 3} runs; the reference is `unzip -p PKG | wc -l` on the same file in",
        "the same run, so the ratios carry across machines better than the seconds do.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in facts.items()),
        "",
        "## Results",
        "",
        "| measure | package | tpns-mock | reference | ratio | target | met |",
        "|---|---|---:|---:|---:|---|---|",
        *(
            f"| {r.measure} | {r.package} | {r.value} | {r.reference} | {r.ratio} | {r.target} "
            f"| {_mark(r.met)} |"
            for r in report.rows
        ),
        "",
    ]
    unmet = [r for r in report.rows if r.met is False]
    lines += ["## Targets not met in this run", ""]
    lines += [f"- {r.measure}, {r.package}: {r.value} {r.ratio} (target {r.target})" for r in unmet]
    lines += ["- none" if not unmet else "", "", NOTES]
    return "\n".join(lines).replace("\n\n\n", "\n\n")


NOTES = """## What is measured

- **validation**: `tpns_client.protocol.package.validate_package` on the package file, in
  process: open
  the zip, inflate its txt, check its CRC and every line. The reference inflates and counts
  lines in two C processes.
- **end to end**: `curl -F file=@PKG` to a real `tpns-mock` process over loopback, from the first
  byte sent to the answer: receiving the multipart body, writing it to the data dir, hashing it,
  validating it and recording it.
- **peak RSS**: `VmHWM` of the server process (started fresh) after the upload of the largest
  package.
- **health**: `GET /_mock/health` every 10 ms on a keep-alive connection from the start to the
  end of the largest token upload (receiving and validating).
- **small uploads/s**: 1, 8 or 32 keep-alive clients uploading a 100-account zip in a loop for a
  few seconds; every upload is accepted and recorded (SQLite row, file in the data dir). The
  clients run on the same machine and share its cores with the server.

## Why isal is a dependency

Inflating is half of validation. `isal` (Intel's ISA-L, with wheels for Linux, macOS and
Windows on x86-64 and arm64) inflates the raw deflate stream about three times faster than the
standard library's zlib; the `stdlib zlib fallback` rows above measure the same validation with
zlib, which is what runs where isal cannot be installed. The zip's end records and its one
directory entry are read by the package rules themselves (every declared count, size and offset
checked before use, so a directory of millions of entries costs nothing), and the member's bytes
are inflated directly from their offset, with the CRC and the declared size checked at the end.

## How the line check is fast

Every inflated chunk is mapped to one byte per character with `bytes.translate` (control
characters to NUL, UTF-8 continuation bytes deleted), after which each rule is one C-speed pass:
a NUL search, a 101-character-run search, a regular expression for lines of 0 or 1 characters
(it scans for line ends at memchr speed) and a line count. Python code runs per line only once
a chunk is known to hold a bad line, to name it.

## What was measured on the way (1,000,000 tokens, 33 MB inflated, 2-core AMD EPYC)

| step | before | after |
|---|---:|---:|
| validation, total | 0.251 s (1.1x `unzip`) | 0.095-0.125 s (0.4-0.55x) |
| inflate: zipfile's `ZipExtFile` (zlib) vs raw isal `decompressobj(-15)` | 0.140 s | 0.047 s |
| CRC-32: `zlib.crc32` vs isal's | 4.7 ms | 0.8 ms |
| short lines: `b"\\na\\n" in mapped` vs `re.search(rb"\\n[^\\n]?\\n")` | 69 ms | 13 ms |
| line checking, total | 0.123 s | about 0.05 s |

- The substring search was slow because every byte of a mapped chunk (`a` or a line end) is in
  the needle, so CPython's search cannot skip ahead; the regular expression's literal prefix
  jumps from line end to line end.
- Chunks of 256 KiB, 1 MiB and 4 MiB checked in the same time (0.123, 0.127, 0.124 s); 1 MiB
  keeps the number of Python-level steps low while bounding memory.
- Overlapping inflate and checking in two threads was not pursued: with isal, inflating is a
  third of validation and the checks (`bytes` methods) hold the GIL, so the gain is bounded by
  that third and costs a thread per upload.
- End to end minus validation (receiving the multipart body with python-multipart, SHA-256,
  writing it to the data dir, recording it) is about 0.6 s for 100 MiB; it is not the
  bottleneck against the 1.5x target, so the multipart parser was left as it is.
- The benchmark needs nothing beyond the project's own dependencies (and `unzip`, `wc`, and
  optionally `curl` on the PATH), so there is no `bench` extra.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small packages, one run, no file")
    parser.add_argument("--runs", type=int, help="repeats per timing (default 3; --quick 1)")
    parser.add_argument("--out", type=Path, help="where to write (default docs/benchmarks.md)")
    parser.add_argument("--work-dir", type=Path, help="where packages are built (default /tmp)")
    args = parser.parse_args(argv)
    for tool in ("unzip", "wc"):
        if not shutil.which(tool):
            parser.error(f"{tool} is needed for the reference measure")
    facts = machine()
    print("machine:", ", ".join(f"{k} {v}" for k, v in facts.items()), flush=True)
    started = time.monotonic()
    report = run(args)
    print(f"done in {time.monotonic() - started:.0f} s", flush=True)
    out = args.out or (None if args.quick else ROOT / "docs" / "benchmarks.md")
    if out:
        text = markdown(report, facts, args)
        old = out.read_text() if out.exists() else ""
        if HOSTILE_START in old and HOSTILE_END in old:  # benchmarks/hostile.py's part stays
            kept = old[old.index(HOSTILE_START) : old.index(HOSTILE_END) + len(HOSTILE_END)]
            text = text.rstrip("\n") + "\n\n" + kept + "\n"
        out.write_text(text)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
