"""Run the hostile suite (tests/hostile) and write what its server went through into
docs/benchmarks.md: peak memory across every hostile case, and the slowest answer.

    python benchmarks/hostile.py             # CI's fixed seed, as the test command runs it
    python benchmarks/hostile.py --long      # many more generated cases (minutes)

The suite's one server (tests/conftest.py, ``hostile_server``) takes every case; at its end it
reports its VmHWM and the longest time any hostile request waited for its answer (``--quick``
prints without writing). The section is replaced in place, so ``benchmarks/run.py`` and this
script each own their part of the page.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import HOSTILE_END as END  # noqa: E402
from run import HOSTILE_START as START  # noqa: E402
from run import machine  # noqa: E402
from tpns_client.protocol.package import PackageError, validate_package  # noqa: E402

# about 102 MB of directory: just under the 100 MiB upload limit
HUGE_ENTRIES = 2_000_000
PEAK_RSS_MB = 150.0
SLOWEST_S = 5.0


def run_suite(long: bool, seed: int | None) -> tuple[dict[str, object], float]:
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "hostile.json"
        command = [sys.executable, "-m", "pytest", "tests/hostile", "-q", "-p", "no:cacheprovider"]
        command += ["--hostile-long"] if long else []
        command += ["--hostile-seed", str(seed)] if seed is not None else []
        started = time.monotonic()
        subprocess.run(
            command, cwd=ROOT, env={**os.environ, "TPNS_HOSTILE_REPORT": str(report)}, check=True
        )
        return json.loads(report.read_text()), time.monotonic() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def huge_directory(entries: int) -> dict[str, float]:
    """A zip of ``entries`` directory entries (one 3-byte member listed over and over) sent to a
    fresh mock with the default settings: the answer's time and the server's peak memory."""
    sys.path.insert(0, str(ROOT / "tests" / "hostile"))
    from zipmutator import many_entries

    data = many_entries(entries)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tpns_mock", "--port", str(port), "--in-memory"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/_mock/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        before = peak_rss_mb(server.pid)
        started = time.monotonic()
        answer = httpx.post(
            f"{url}/v3/push/package/upload",
            files={"file": ("accounts.zip", data)},
            auth=("1500000001", "tpns-mock-secret-key"),
            timeout=120,
        ).json()
        took = time.monotonic() - started
        assert answer["retCode"] == 1008011 and f"{entries:,} files" in answer["errMsg"], answer
        peak = peak_rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    started = time.monotonic()
    with contextlib.suppress(PackageError):
        validate_package(io.BytesIO(data), "accounts.zip")
    refused = time.monotonic() - started
    return {"bytes": len(data), "seconds": took, "refused": refused, "before": before, "peak": peak}


def section(
    result: dict[str, object], wall_s: float, facts: dict[str, str], huge: dict[str, float]
) -> str:
    peak = float(result["peak_rss_mb"] or 0)  # type: ignore[arg-type]
    slowest = float(result["slowest_s"])  # type: ignore[arg-type]
    mode = "`--hostile-long`" if result["long"] else "CI's"
    lines = [
        START,
        "## Hostile inputs",
        "",
        "Written by `python benchmarks/hostile.py`: the whole hostile suite (`tests/hostile`, "
        f"{mode} run, seed {result['seed']}) against the suite's shared `tpns-mock` process, "
        "whose limits are small so cases stay quick (64 MiB inflate cap, 1 s idle and 4 s body "
        "timeouts); the SIGKILL cases and a 1 GiB line at the default cap start servers of "
        "their own, which assert the same memory bound. "
        "The cases: zip bombs, generated damage to valid packages (truncations, flipped header "
        "bytes, lies about counts, sizes and offsets, a 35 MB directory of 600,000 entries), "
        "every JSON type in every push field, oversized, malformed and trickling bodies.",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in facts.items()),
        "",
        "| measure | value | target | met |",
        "|---|---:|---|---|",
        f"| server peak RSS (VmHWM) across the suite | {peak:.0f} MB | ≤ {PEAK_RSS_MB:g} MB "
        f"| {'yes' if peak <= PEAK_RSS_MB else 'NO'} |",
        f"| slowest answer to a hostile request ({result['slowest_case']}) | {slowest:.2f} s "
        f"| < {SLOWEST_S:g} s | {'yes' if slowest < SLOWEST_S else 'NO'} |",
        f"| slowest answer given by a body timeout (1 s idle, 4 s deadline) "
        f"| {float(result['slowest_timeout_s']):.2f} s | the timeout | |",  # type: ignore[arg-type]
        f"| hostile requests timed | {result['cases']:,} | | |",
        f"| a {huge['bytes'] / 1e6:.0f} MB zip declaring {HUGE_ENTRIES:,} entries: the rules "
        f"refuse it (in process) in | {huge['refused'] * 1000:.1f} ms | < {SLOWEST_S:g} s | "
        f"{'yes' if huge['refused'] < SLOWEST_S else 'NO'} |",
        f"| the same sent to a fresh mock with default settings: answered (1008011) after, "
        f"sending included | {huge['seconds']:.2f} s | | |",
        f"| the same: that server's peak RSS, before / after | {huge['before']:.0f} / "
        f"{huge['peak']:.0f} MB | ≤ {PEAK_RSS_MB:g} MB | "
        f"{'yes' if huge['peak'] <= PEAK_RSS_MB else 'NO'} |",
        f"| the suite, wall time (tests included) | {wall_s:.0f} s | ≤ 60 s in CI | "
        f"{'yes' if wall_s <= 60 or result['long'] else 'NO'} |",
        "",
        "Each answer is timed from the first byte sent; it includes sending the body (up to "
        "100 MiB over loopback), so it bounds the refusal from above. Answers a body timeout "
        "gave (a stalled or trickling client) take as long as the timeout by design, and are "
        "shown apart.",
        END,
    ]
    return "\n".join(lines) + "\n"


def replace_section(page: str, new: str) -> str:
    """``page`` with its hostile section replaced by ``new`` (appended if it has none)."""
    if START in page and END in page:
        before, rest = page.split(START, 1)
        after = rest.split(END, 1)[1].lstrip("\n")
        return before + new + ("\n" + after if after else "")
    return page.rstrip("\n") + "\n\n" + new


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--long", action="store_true", help="the suite with --hostile-long")
    parser.add_argument("--seed", type=int, help="another seed for the generators")
    parser.add_argument("--quick", action="store_true", help="print the section, write nothing")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    result, wall_s = run_suite(args.long, args.seed)
    huge = huge_directory(HUGE_ENTRIES)
    text = section(result, wall_s, machine(), huge)
    print(text)
    if not args.quick:
        args.out.write_text(replace_section(args.out.read_text(), text))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
