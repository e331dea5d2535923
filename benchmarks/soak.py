"""A bounded soak: minutes of mixed load on a real ``tpns-mock``, one line per minute.

    python benchmarks/soak.py                       # 3 minutes with 1 worker, then with 2
    python benchmarks/soak.py --minutes 30 --workers 2 --out soak.md

16 keep-alive clients (``--clients``) over loopback mix small uploads (a third), package
pushes to the packages just uploaded, and reads (an upload's metadata, its accounts, the
listing, health). Every answer is checked (an upload's accounts must come back as sent), so a
soak that reports numbers also lost nothing and answered nothing wrong. Each minute prints
throughput, p50/p99 latency, and the resident memory (VmRSS) of every serving process, so a
creep shows as a column that keeps growing; the last line compares the last minute's memory
with the fifth minute's (or the first, in a shorter soak).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import (
    HEALTH,
    Call,
    percentile,
    push_call,
    run_clients,
    server,
    upload_call,
)

ACCOUNTS = [f"soak-user-{n:04d}" for n in range(100)]
BASELINE_MINUTE = 5


def package() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("accounts.txt", "\n".join(ACCOUNTS) + "\n")
    return buffer.getvalue()


class Mix:
    """Chooses each client's next request; remembers the uploadIds answered, to read and push."""

    def __init__(self) -> None:
        self.upload = upload_call("accounts.zip", package())
        self.expected_accounts = ("\n".join(ACCOUNTS) + "\n").encode()
        self.ids: list[int] = []
        self.lock = threading.Lock()

    def choose(self, client: int, n: int) -> Call:
        step = (client + n) % 6
        with self.lock:
            last = self.ids[-1 - (client % 8)] if len(self.ids) > 8 else None
        if step in (0, 3) or last is None:
            return self.upload
        if step == 1:
            return push_call(last)
        if step == 2:
            return Call("GET", f"/_mock/uploads/{last}", expect=b'"accountCount":100')
        if step == 4:
            return Call("GET", f"/_mock/uploads/{last}/accounts", expect=self.expected_accounts)
        return HEALTH if client % 2 else Call("GET", "/_mock/uploads?limit=5", expect=b'"total":')

    def answered(self, call: Call, answer: bytes) -> None:
        if call is self.upload:
            upload_id = json.loads(answer)["uploadId"]
            with self.lock:
                self.ids.append(upload_id)
                del self.ids[:-64]


def soak(workers: int, minutes: int, clients: int, work: Path, minute_s: float = 60.0) -> list[str]:
    lines = [
        f"### {workers} worker{'s' * (workers > 1)}, {clients} keep-alive clients, {minutes} min",
        "",
        "| minute | requests/s | p50 ms | p99 ms | RSS MB per serving process |",
        "|---:|---:|---:|---:|---|",
    ]
    print("\n".join(lines), flush=True)
    mix = Mix()
    flags = ("--workers", str(workers)) if workers > 1 else ()
    rss_by_minute: list[list[float]] = []
    with server(work / f"data-{workers}", *flags, env={"TPNS_MOCK_RATE_LIMIT": "0"}) as srv:
        srv.wait_for_workers(workers)
        for minute in range(1, minutes + 1):
            tally, elapsed = run_clients(srv.port, mix.choose, clients, minute_s, mix.answered)
            if tally.errors:
                raise RuntimeError(f"minute {minute}: a wrong answer: {tally.errors[0]}")
            rss = srv.rss_mb()
            rss_by_minute.append(rss)
            line = (
                f"| {minute} | {tally.count / elapsed:.0f} | "
                f"{percentile(tally.latencies_ms, 50):.1f} | "
                f"{percentile(tally.latencies_ms, 99):.1f} | "
                + ", ".join(f"{mb:.0f}" for mb in rss)
                + " |"
            )
            print(line, flush=True)
            lines.append(line)
    base = BASELINE_MINUTE if minutes >= BASELINE_MINUTE + 1 else 1
    before, after = max(rss_by_minute[base - 1]), max(rss_by_minute[-1])
    summary = (
        f"\nLargest serving process: {before:.0f} MB after minute {base}, {after:.0f} MB after "
        f"minute {minutes} ({(after / before - 1) * 100:+.1f}%).\n"
    )
    print(summary, flush=True)
    lines.append(summary)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=int, default=3, help="per worker count (default 3)")
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1, 2], help="worker counts (default 1 2)"
    )
    parser.add_argument("--clients", type=int, default=16, help="keep-alive clients (16)")
    parser.add_argument("--out", type=Path, help="also write the tables (markdown) here")
    parser.add_argument(
        "--minute-s", type=float, default=60.0, help="seconds in a 'minute' (short smoke runs)"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tpns-soak-") as tmp:
        for workers in args.workers:
            lines += soak(workers, args.minutes, args.clients, Path(tmp), args.minute_s)
            if args.out:  # before the data dir (hundreds of thousands of files) is removed
                args.out.write_text("\n".join(lines) + "\n")
    print(f"done in {time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
