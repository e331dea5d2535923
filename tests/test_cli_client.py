"""``tpns upload PATH`` against a real ``tpns-mock`` process."""

from __future__ import annotations

import os
import random
import string
import subprocess
import sys
from pathlib import Path

import httpx
from conftest import LiveServer

CREDENTIALS = {"TPNS_ACCESS_ID": "1500000001", "TPNS_SECRET_KEY": "tpns-mock-secret-key"}


def tpns(
    *args: str, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TPNS_")}
    return subprocess.run(
        [sys.executable, "-c", "import sys; from client.cli import main; sys.exit(main())", *args],
        env={**environment, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_upload_prints_the_upload_id_with_a_progress_bar(
    live_server: LiveServer, tmp_path: Path
) -> None:
    txt = tmp_path / "vips.txt"
    rng = random.Random(7)  # incompressible enough that the zip passes 1 MiB
    lines = ("".join(rng.choices(string.ascii_letters, k=40)) for _ in range(60_000))
    txt.write_text("\n".join(lines) + "\n")
    result = tpns("upload", str(txt), "--base-url", live_server.url, "--progress", env=CREDENTIALS)
    assert result.returncode == 0, result.stderr
    upload_id = int(result.stdout.strip())
    assert "100%" in result.stderr and "MiB" in result.stderr and "[####" in result.stderr
    meta = httpx.get(f"{live_server.url}/_mock/uploads/{upload_id}").json()
    assert meta["accountCount"] == 60_000 and meta["fileName"] == "vips.zip"


def test_upload_from_stdin(live_server: LiveServer) -> None:
    result = tpns("upload", "-", "--base-url", live_server.url, env=CREDENTIALS, stdin="ab\ncd\n")
    assert result.returncode == 0, result.stderr
    upload_id = int(result.stdout)
    accounts = httpx.get(f"{live_server.url}/_mock/uploads/{upload_id}/accounts").text
    assert accounts == "ab\ncd\n"
    assert result.stderr == ""  # small: no bar


def test_refused_package_says_which_account(live_server: LiveServer, tmp_path: Path) -> None:
    txt = tmp_path / "vips.txt"
    txt.write_text("alice\nb\n")
    result = tpns("upload", str(txt), "--base-url", live_server.url, env=CREDENTIALS)
    assert result.returncode == 1
    assert "PackageRefused" in result.stderr and "line 2" in result.stderr
    assert result.stdout == ""


def test_wrong_secret_is_reported_without_it(live_server: LiveServer, tmp_path: Path) -> None:
    env = {**CREDENTIALS, "TPNS_SECRET_KEY": "wrong-secret-xyz"}
    result = tpns("upload", "-", "--base-url", live_server.url, env=env, stdin="ab\n")
    assert result.returncode == 1
    assert "AuthError" in result.stderr and "1008003" in result.stderr
    assert "wrong-secret-xyz" not in result.stderr + result.stdout


def test_missing_credentials_name_both_variables() -> None:
    result = tpns("upload", "x.zip", "--base-url", "http://127.0.0.1:9", env={})
    assert result.returncode == 2
    assert "TPNS_ACCESS_ID" in result.stderr and "TPNS_SECRET_KEY" in result.stderr
