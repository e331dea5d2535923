"""``tpns upload PATH`` against a real ``tpns-mock`` process."""

from __future__ import annotations

import os
import random
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import LiveServer, start_server

pytestmark = pytest.mark.slow  # runs the CLI against real server processes

CREDENTIALS = {"TPNS_ACCESS_ID": "1500000001", "TPNS_SECRET_KEY": "tpns-mock-secret-key"}


def tpns(
    *args: str, env: dict[str, str], stdin: str | bytes | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``tpns`` with ``stdin`` given as bytes, exactly (a str is encoded as UTF-8)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TPNS_")}
    data = stdin.encode() if isinstance(stdin, str) else stdin or b""
    with tempfile.TemporaryFile() as handle:
        handle.write(data)
        handle.seek(0)
        return subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from tpns_client.cli import main; sys.exit(main())",
                *args,
            ],
            env={**environment, **env},
            stdin=handle,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=120,
        )


def accounts_of(server: LiveServer, upload_id: int) -> str:
    response = httpx.get(f"{server.url}/_mock/uploads/{upload_id}/accounts")
    response.raise_for_status()
    return response.content.decode("utf-8")


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


# -- stdin is bytes, handled exactly like a .txt file ---------------------------------------------


def test_stdin_is_utf8_whatever_the_locale_says(live_server: LiveServer) -> None:
    # a Latin-1 locale used to decode the UTF-8 bytes into mojibake, stored without a word
    env = {**CREDENTIALS, "PYTHONIOENCODING": "latin-1", "LC_ALL": "C"}
    result = tpns("upload", "-", "--base-url", live_server.url, env=env, stdin="ålice\nbøb\n")
    assert result.returncode == 0, result.stderr
    assert accounts_of(live_server, int(result.stdout)) == "ålice\nbøb\n"


def test_stdin_bom_and_crlf_are_handled_as_in_a_txt_file(live_server: LiveServer) -> None:
    result = tpns(
        "upload", "-", "--base-url", live_server.url, env=CREDENTIALS, stdin=b"\xef\xbb\xbfab\r\ncd"
    )
    assert result.returncode == 0, result.stderr
    upload_id = int(result.stdout)
    assert accounts_of(live_server, upload_id) == "ab\ncd\n"
    meta = httpx.get(f"{live_server.url}/_mock/uploads/{upload_id}").json()
    assert meta["fileName"] == "accounts.zip"


def test_invalid_utf8_on_stdin_is_refused_locally_naming_the_line(
    live_server: LiveServer,
) -> None:
    result = tpns(
        "upload", "-", "--base-url", live_server.url, env=CREDENTIALS, stdin=b"alice\nb\xffb\n"
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "UnicodeDecodeError" not in result.stderr
    assert "PackageRefused" in result.stderr and "line 2" in result.stderr
    assert "UTF-8" in result.stderr and result.stdout == ""
    assert httpx.get(f"{live_server.url}/_mock/uploads").json()["total"] == 0


# -- a malformed --base-url: one line, exit 2, no retries ------------------------------------------


@pytest.mark.parametrize("base_url", ["localhost:8080", "http://[::1"])
def test_a_malformed_base_url_is_one_line_and_exit_2(base_url: str) -> None:
    started = time.monotonic()
    result = tpns("upload", "-", "--base-url", base_url, env=CREDENTIALS, stdin="ab\n")
    elapsed = time.monotonic() - started
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("tpns: base_url ") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "retrying" not in result.stderr
    print(f"refused in {elapsed:.2f} s")


# -- --rules current: a .csv is not refused locally ------------------------------------------------


@pytest.fixture
def current_server(tmp_path: Path) -> Iterator[LiveServer]:
    server = start_server(tmp_path / "current-data", "--rules", "current")
    yield server
    server.stop()


def test_rules_current_sends_a_csv_the_seed_rules_refuse(
    current_server: LiveServer, tmp_path: Path
) -> None:
    csv = tmp_path / "vips.csv"
    csv.write_bytes(b"alice\nbob\n")
    refused = tpns("upload", str(csv), "--base-url", current_server.url, env=CREDENTIALS)
    assert refused.returncode == 1 and "PackageRefused" in refused.stderr
    assert "not sent" in refused.stderr and "rules='current'" in refused.stderr
    result = tpns(
        "upload", str(csv), "--rules", "current", "--base-url", current_server.url, env=CREDENTIALS
    )
    assert result.returncode == 0, result.stderr
    upload_id = int(result.stdout)
    assert accounts_of(current_server, upload_id) == "alice\nbob\n"
    meta = httpx.get(f"{current_server.url}/_mock/uploads/{upload_id}").json()
    assert meta["fileName"] == "vips.csv"
