"""Regenerate docs/dashboard.png: the dashboard of a throwaway mock after a typical session.

Starts ``tpns-mock --in-memory`` on a free port, makes the calls an app would (uploads, one
refused, pushes, a fault that fires), opens ``/_mock/ui`` in Debian's Chromium through
Playwright (``pip install playwright``; no browser is downloaded) and saves a screenshot.

    python docs/screenshot.py [--out docs/dashboard.png] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ACCESS_ID, SECRET_KEY = "1500000001", "tpns-mock-secret-key"
SECOND_APP = ("1500000002", "second-app-secret-key")
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_mock() -> Iterator[str]:
    """A ``tpns-mock`` process with two apps and no push rate limit; yields its URL."""
    port = free_port()
    env = {**os.environ, "TPNS_MOCK_APPS": f"{SECOND_APP[0]}:{SECOND_APP[1]}"}
    command = [sys.executable, "-m", "tpns_mock", "--port", str(port), "--in-memory"]
    process = subprocess.Popen(
        [*command, "--no-rate-limit", "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{url}/_mock/health").status_code == 200:
                    break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("tpns-mock did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


def package(lines: list[str], member: str = "accounts.txt") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, "".join(f"{line}\n" for line in lines))
    return buffer.getvalue()


def a_typical_session(url: str) -> None:
    """What an app under development sends: the dashboard then has something in every part."""
    from tpns_client import TPNSClient

    with TPNSClient(ACCESS_ID, SECRET_KEY, base_url=url) as tpns:
        vips = tpns.upload_package([f"vip-{n:05}" for n in range(1, 1201)]).upload_id
        tpns.upload_package(["alice", "bob", "carol"])
    with httpx.Client(base_url=url, auth=SECOND_APP) as second:
        newsletter = package([f"user{n}@example.com" for n in range(40)])
        second.post("/v3/push/package/upload", files={"file": ("newsletter.zip", newsletter)})
    with httpx.Client(base_url=url, auth=(ACCESS_ID, SECRET_KEY)) as basic:
        # refused: line 2 is one character long
        basic.post(
            "/v3/push/package/upload",
            files={"file": ("broken.zip", package(["alice", "b", "carol"]))},
        )
        message = {"title": "Your order shipped", "content": "It arrives on Friday."}
        basic.post(
            "/v3/push/app",
            json={
                "audience_type": "package_account_push",
                "upload_id": vips,
                "message_type": "notify",
                "message": message,
            },
        )
        basic.post(
            "/v3/push/app",
            json={
                "audience_type": "account_list",
                "account_list": ["alice", "bob"],
                "message_type": "notify",
                "message": message,
            },
        )
        basic.post(f"{url}/_mock/faults", json={"path": "/v3/push/app", "retCode": 1008028})
        basic.post(
            "/v3/push/app",
            json={"audience_type": "all", "message_type": "notify", "message": message},
        )
        basic.post(
            f"{url}/_mock/faults",
            json={"path": "/v3/push/package/upload", "action": "drop", "times": 2},
        )


def screenshot(url: str, out: Path, chromium: str, width: int = 1280, height: int = 800) -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": width, "height": height},
            locale="en-US",
            timezone_id="UTC",
        )
        try:
            page = context.new_page()
            page.goto(f"{url}/_mock/ui")
            page.wait_for_selector("#requests-table tbody tr.refused")
            page.wait_for_selector("#faults-table tbody tr[data-fault-id]")
            page.screenshot(path=str(out), full_page=True)
        finally:
            context.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "dashboard.png")
    parser.add_argument(
        "--chromium", default=os.environ.get("TPNS_MOCK_CHROMIUM", "/usr/bin/chromium")
    )
    args = parser.parse_args(argv)
    with running_mock() as url:
        a_typical_session(url)
        screenshot(url, args.out, args.chromium)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
