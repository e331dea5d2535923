"""README.md's commands are the ones CI runs, and its curl upload works as printed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import LiveServer

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def shell_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", README, flags=re.S)


def test_readme_test_command_is_what_ci_runs() -> None:
    blocks = shell_blocks()
    test_command = next(b.strip() for b in blocks if "pytest" in b)
    assert test_command in (ROOT / ".ci" / "run").read_text()


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("zip")), reason="needs curl, zip")
def test_readme_curl_upload_works_as_printed(live_server: LiveServer, tmp_path: Path) -> None:
    block = next(b for b in shell_blocks() if "package/upload" in b)
    script = block.replace("http://127.0.0.1:8080", live_server.url)
    out = subprocess.run(
        ["sh", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=30
    ).stdout
    assert '"retCode":0' in out and '"uploadId":1' in out
    inspect = next(b for b in shell_blocks() if "/accounts" in b)
    out = subprocess.run(
        ["sh", "-c", inspect.replace("http://127.0.0.1:8080", live_server.url)],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    assert out == "alice\nbob\n"


def test_readme_push_flow_runs_as_printed(
    live_server: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    block = next(b for b in blocks if "push_package" in b and "wait_for_push" not in b)
    code = block.replace("http://127.0.0.1:8080", live_server.url)
    exec(code, {"access_id": "1500000001", "secret_key": "tpns-mock-secret-key"})
    assert capsys.readouterr().out.strip().isdigit()


def test_readme_push_lifecycle_runs_as_printed(
    live_server: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    block = next(b for b in blocks if "wait_for_push" in b)
    code = block.replace("http://127.0.0.1:8080", live_server.url)
    exec(code, {"access_id": "1500000001", "secret_key": "tpns-mock-secret-key"})
    assert capsys.readouterr().out.strip() == "PUSH_FINISHED"
    record = next(b for b in shell_blocks() if "get_push_record" in b)
    out = subprocess.run(
        ["sh", "-c", record.replace("http://127.0.0.1:8080", live_server.url)],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    assert '"retCode":0' in out and '"status":"PUSH_FINISHED"' in out
