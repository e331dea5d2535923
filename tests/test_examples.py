"""The examples in ``examples/`` (Java, Node, Go, PHP), run for real against a live mock.

Each must sign with Tencent's HMAC scheme (never Basic), upload a real zip, push to the
package and print ids that the mock's store confirms; over HTTPS each must trust the mock's CA
the way README.md says, and refuse the mock when it does not. Without a toolchain its tests
skip, except under CI (``CI`` set), where ``.ci/run`` installs them and a skip would hide a
failure.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import ssl
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import AUTH, LiveServer, start_server
from zips import accounts_zip

pytestmark = pytest.mark.slow  # toolchains compile and start: minutes, not seconds

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
RUN_TIMEOUT_S = 180  # a cold `go run` compiles; a cold `java File.java` too
STORE_PASSWORD = "tpns-mock"


@dataclass(frozen=True)
class Example:
    """How to run one language's example, and how that language is told to trust a CA."""

    name: str
    tools: tuple[str, ...]
    command: Callable[[Path, Path | None], list[str]]  # (zip, CA trust store) -> argv
    trust_env: Callable[[Path], dict[str, str]] = lambda ca: {}
    trust_store: Callable[[Path, Path], Path] = lambda ca, workdir: ca  # ca -> what argv needs

    def missing(self) -> str | None:
        absent = [tool for tool in self.tools if shutil.which(tool) is None]
        if absent:
            return f"{', '.join(absent)} not installed"
        if self.name == "php":
            modules = subprocess.run(["php", "-m"], capture_output=True, text=True).stdout
            if "curl" not in modules.split():
                return "php's curl extension not installed (php-curl)"
        return None


def java_keystore(ca: Path, workdir: Path) -> Path:
    """ca.pem imported into a PKCS12 keystore, as README.md tells Java users to do."""
    store = workdir / "tpns-mock-trust.p12"
    if not store.exists():
        subprocess.run(
            [
                "keytool",
                "-importcert",
                "-noprompt",
                "-alias",
                "tpns-mock",
                "-file",
                str(ca),
                "-keystore",
                str(store),
                "-storetype",
                "PKCS12",
                "-storepass",
                STORE_PASSWORD,
            ],
            check=True,
            capture_output=True,
        )
    return store


def java_command(zip_path: Path, store: Path | None) -> list[str]:
    trust = (
        [
            f"-Djavax.net.ssl.trustStore={store}",
            f"-Djavax.net.ssl.trustStorePassword={STORE_PASSWORD}",
        ]
        if store
        else []
    )
    return ["java", *trust, str(EXAMPLES / "java" / "UploadAndPush.java"), str(zip_path)]


EXAMPLE_LIST = [
    Example(
        "java",
        ("java", "keytool"),
        java_command,
        trust_store=java_keystore,
    ),
    Example(
        "node",
        ("node",),
        lambda zip_path, _: ["node", str(EXAMPLES / "node" / "upload-and-push.mjs"), str(zip_path)],
        trust_env=lambda ca: {"NODE_EXTRA_CA_CERTS": str(ca)},
    ),
    Example(
        "go",
        ("go",),
        lambda zip_path, _: ["go", "run", str(EXAMPLES / "go" / "main.go"), str(zip_path)],
        trust_env=lambda ca: {"SSL_CERT_FILE": str(ca)},
    ),
    Example(
        "php",
        ("php",),
        lambda zip_path, ca: [
            "php",
            *([f"-dcurl.cainfo={ca}"] if ca else []),
            str(EXAMPLES / "php" / "upload-and-push.php"),
            str(zip_path),
        ],
    ),
]
EXAMPLES_BY_NAME = {example.name: example for example in EXAMPLE_LIST}


def toolchain_or_skip(example: Example) -> None:
    reason = example.missing()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"the {example.name} example must run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, LiveServer]]:
    """One plain and one HTTPS mock, both without the push rate limit (runs follow closely)."""
    base = tmp_path_factory.mktemp("examples")
    # a push finishes 0.5 s after it is accepted: each example sees it unfinished, then waits
    options = ("--no-rate-limit", "--push-duration", "0.5")
    plain = start_server(base / "plain", *options)
    try:
        secure = start_server(base / "tls", *options, "--tls")
        try:
            yield {"http": plain, "https": secure}
        finally:
            secure.stop()
    finally:
        plain.stop()


def tool_env(workdir: Path) -> dict[str, str]:
    """The environment every run gets: no credentials but the mock's, caches somewhere usable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TPNS_")}
    for name in ("SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS"):
        env.pop(name, None)
    if not env.get("HOME"):
        env["HOME"] = str(workdir)
    return env


def run_example(
    example: Example, url: str, zip_path: Path, workdir: Path, ca: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = tool_env(workdir)
    env.update(
        {"TPNS_BASE_URL": url, "TPNS_ACCESS_ID": AUTH[0], "TPNS_SECRET_KEY": AUTH[1]},
    )
    store = None
    if ca is not None:
        env.update(example.trust_env(ca))
        store = example.trust_store(ca, workdir)
    return subprocess.run(
        example.command(zip_path, store),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )


def printed_ids(stdout: str) -> tuple[int, str]:
    upload = re.search(r"^uploadId=(\d+)$", stdout, re.M)
    push = re.search(r"^push_id=(\S+)$", stdout, re.M)
    assert upload and push, stdout
    return int(upload.group(1)), push.group(1)


def client_for(server: LiveServer) -> httpx.Client:
    verify = ssl.create_default_context(cafile=server.ca) if server.ca else True
    return httpx.Client(base_url=server.url, verify=verify, timeout=30)


RECORD = "/v3/statistics/get_push_record"


def check_run(
    server: LiveServer, done: subprocess.CompletedProcess[str], accounts: list[str]
) -> None:
    """The run succeeded, its ids are the store's, it waited for PUSH_FINISHED, and the journal
    shows its calls, each signed: the upload, the push, then the push's record until final."""
    assert done.returncode == 0, done.stdout + done.stderr
    assert AUTH[1] not in done.stdout + done.stderr
    upload_id, push_id = printed_ids(done.stdout)
    assert re.search(r"^status=PUSH_FINISHED$", done.stdout, re.M), done.stdout
    with client_for(server) as mock:
        assert mock.get(f"/_mock/uploads/{upload_id}/accounts").text == "".join(
            f"{a}\n" for a in accounts
        )
        push = mock.get(f"/_mock/pushes/{push_id}").json()
        assert push["uploadId"] == upload_id, push
        journal = mock.get("/_mock/requests", params={"limit": 50}).json()["requests"]
    paths = [entry["path"] for entry in journal]  # newest first
    assert paths[-2:] == ["/v3/push/app", "/v3/push/package/upload"], paths
    assert paths[:-2] and set(paths[:-2]) == {RECORD}, paths
    for entry in journal:
        headers = entry["headers"]
        assert (entry["status"], entry["retCode"], entry["accessId"]) == (200, 0, AUTH[0]), entry
        assert headers["sign"] == "[redacted]" and headers["accessid"] == AUTH[0], headers
        assert headers["timestamp"].isdigit() and "authorization" not in headers, headers


@pytest.fixture
def fresh(servers: dict[str, LiveServer]) -> dict[str, LiveServer]:
    for server in servers.values():
        with client_for(server) as mock:
            mock.delete("/_mock/requests")
            mock.delete("/_mock/faults")
    return servers


def unique_package(tmp_path: Path) -> tuple[Path, list[str]]:
    accounts = [f"user-{secrets.token_hex(4)}" for _ in range(3)]
    path = tmp_path / "accounts.zip"
    path.write_bytes(accounts_zip(accounts))
    return path, accounts


@pytest.mark.parametrize("name", list(EXAMPLES_BY_NAME))
def test_example_signs_uploads_and_pushes(
    name: str, fresh: dict[str, LiveServer], tmp_path: Path
) -> None:
    example = EXAMPLES_BY_NAME[name]
    toolchain_or_skip(example)
    zip_path, accounts = unique_package(tmp_path)
    server = fresh["http"]
    done = run_example(example, server.url.replace("127.0.0.1", "localhost"), zip_path, tmp_path)
    check_run(server, done, accounts)


@pytest.mark.parametrize("name", list(EXAMPLES_BY_NAME))
def test_example_over_https_trusts_the_mock_ca_as_readme_says(
    name: str, fresh: dict[str, LiveServer], tmp_path: Path
) -> None:
    example = EXAMPLES_BY_NAME[name]
    toolchain_or_skip(example)
    server = fresh["https"]
    assert server.ca is not None
    ca = server.ca
    zip_path, accounts = unique_package(tmp_path)

    untrusted = run_example(example, server.url, zip_path, tmp_path)
    assert untrusted.returncode != 0, untrusted.stdout
    assert "uploadId=" not in untrusted.stdout

    done = run_example(example, server.url, zip_path, tmp_path, ca=ca)
    check_run(server, done, accounts)
    with client_for(server) as mock:
        journal = mock.get("/_mock/requests", params={"limit": 50}).json()["requests"]
    entry = journal[-1]  # the upload
    assert entry["path"] == "/v3/push/package/upload"
    assert (entry["scheme"], entry["host"]) == ("https", server.url.removeprefix("https://"))


def test_a_wrong_secret_is_reported_without_the_secret(
    servers: dict[str, LiveServer], tmp_path: Path
) -> None:
    """Every example stops with exit 1 on a refusal and names it; none prints the SecretKey."""
    zip_path, _ = unique_package(tmp_path)
    secret = f"wrong-{secrets.token_hex(8)}"
    ran = 0
    for example in EXAMPLE_LIST:
        if example.missing():
            continue
        env = {
            **tool_env(tmp_path),
            "TPNS_BASE_URL": servers["http"].url,
            "TPNS_ACCESS_ID": AUTH[0],
            "TPNS_SECRET_KEY": secret,
        }
        done = subprocess.run(
            example.command(zip_path, None),
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
        )
        assert done.returncode == 1, (example.name, done.stdout, done.stderr)
        assert "1008003" in done.stderr and secret not in done.stdout + done.stderr, example.name
        ran += 1
    if not ran:
        pytest.skip("no example toolchain installed")


@pytest.mark.parametrize("name", list(EXAMPLES_BY_NAME))
def test_a_push_that_fails_is_reported_with_exit_1(
    name: str, fresh: dict[str, LiveServer], tmp_path: Path
) -> None:
    """The wait ends at any final state; only PUSH_FINISHED is success."""
    example = EXAMPLES_BY_NAME[name]
    toolchain_or_skip(example)
    server = fresh["http"]
    armed = httpx.post(
        f"{server.url}/_mock/faults", json={"path": "/v3/push/app", "action": "fail"}
    )
    assert armed.status_code == 201, armed.text
    zip_path, _ = unique_package(tmp_path)
    done = run_example(example, server.url, zip_path, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    _, push_id = printed_ids(done.stdout)
    assert re.search(r"^status=PUSH_FAILED$", done.stdout, re.M), done.stdout
    assert httpx.get(f"{server.url}/_mock/pushes/{push_id}").json()["status"] == "PUSH_FAILED"
