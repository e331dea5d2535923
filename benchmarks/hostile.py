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
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import HOSTILE_END as END  # noqa: E402
from run import HOSTILE_START as START  # noqa: E402
from run import machine  # noqa: E402

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


def section(result: dict[str, object], wall_s: float, facts: dict[str, str]) -> str:
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
    text = section(result, wall_s, machine())
    print(text)
    if not args.quick:
        args.out.write_text(replace_section(args.out.read_text(), text))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
