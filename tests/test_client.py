"""The client against a real ``tpns-mock`` process and real sockets: auth both ways, errors,
retries, and credentials kept out of every repr, log line and exception."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from conftest import LiveServer, free_port
from tpns_client import (
    REGIONS,
    AsyncTPNSClient,
    AuthError,
    PackageRefused,
    RateLimitError,
    RetryPolicy,
    TPNSClient,
    TPNSError,
    TransportError,
)
from tpns_client._core import ClientCore, sign
from tpns_client.protocol.package import Rules
from tpns_mock.app import create_app
from tpns_mock.auth import sign as server_sign
from tpns_mock.settings import Settings
from zips import accounts_zip, make_zip

ACCESS_ID, SECRET = "1500000001", "tpns-mock-secret-key"
FAST = RetryPolicy(attempts=3, backoff_s=0.01, max_backoff_s=0.02)


def client_for(server: LiveServer, **options: object) -> TPNSClient:
    options = {"access_id": ACCESS_ID, "secret_key": SECRET, **options}
    return TPNSClient(base_url=server.url, **options)  # type: ignore[arg-type]


def test_tencent_sign_test_vector() -> None:
    body = (
        b'{"audience_type": "account","platform": "android","message": {"title": "test title",'
        b'"content": "test content","android": { "action": {"action_type": 3,"intent": '
        b'"xgscheme://com.xg.push/notify_detail?param1=xg"}}},"message_type": "notify",'
        b'"account_list": ["5822f0eee44c3625ef0000bb"] }'
    )
    got = sign("1452fcebae9f3115ba794fb0fff2fd73", "1565314789", "1500001048", iter([body]))
    expected = (
        "Y2QyMDc3NDY4MmJmNzhiZmRiNDNlMTdkMWQ1ZDU2YjNlNWI3ODlhMTY3MGZjMTUyN2VmNTRjNjVkMmQ3Yjc2ZA=="
    )
    assert got == expected


def test_regions_map_to_tencents_base_urls() -> None:
    assert ClientCore("1", "s").base_url == "https://api.tpns.tencent.com"
    assert ClientCore("1", "s", region="singapore").base_url == "https://api.tpns.sgp.tencent.com"
    assert ClientCore("1", "s", region="hongkong").base_url == "https://api.tpns.hk.tencent.com"
    assert ClientCore("1", "s", region="shanghai").base_url == REGIONS["shanghai"]
    with pytest.raises(ValueError, match="unknown region"):
        ClientCore("1", "s", region="beijing")
    with pytest.raises(ValueError, match="either region or base_url"):
        ClientCore("1", "s", region="shanghai", base_url="http://x")


@pytest.mark.parametrize("auth", ["sign", "basic"])
def test_uploads_accounts_txt_and_zip(live_server: LiveServer, tmp_path: Path, auth: str) -> None:
    txt = tmp_path / "vips.txt"
    txt.write_bytes(b"\xef\xbb\xbfalice\r\nbob")
    archive = tmp_path / "vips.zip"
    archive.write_bytes(accounts_zip(["carol", "dave"]))
    with client_for(live_server, auth=auth) as tpns:
        ids = [tpns.upload_package(s).upload_id for s in (["x1", "y2"], txt, archive)]
    got = [httpx.get(f"{live_server.url}/_mock/uploads/{i}/accounts").text for i in ids]
    assert got == ["x1\ny2\n", "alice\nbob\n", "carol\ndave\n"]
    names = [httpx.get(f"{live_server.url}/_mock/uploads/{i}").json()["fileName"] for i in ids]
    assert names == ["accounts.zip", "vips.zip", "vips.zip"]


def test_local_check_names_the_line_of_a_bad_txt(live_server: LiveServer, tmp_path: Path) -> None:
    txt = tmp_path / "vips.txt"
    txt.write_text("alice\nbob\n\ncarol\n")
    with client_for(live_server) as tpns, pytest.raises(PackageRefused) as caught:
        tpns.upload_package(txt)
    assert (
        caught.value.local and "line 3" in caught.value.err_msg and "blank" in caught.value.err_msg
    )
    assert httpx.get(f"{live_server.url}/_mock/uploads").json()["total"] == 0


def test_local_check_of_a_zip_uses_the_servers_rules(
    live_server: LiveServer, tmp_path: Path
) -> None:
    archive = tmp_path / "finder.zip"
    archive.write_bytes(make_zip({"a.txt": b"alice\n", "__MACOSX/._a.txt": b"\0"}))
    with client_for(live_server) as tpns, pytest.raises(PackageRefused) as caught:
        tpns.upload_package(archive)
    assert caught.value.local and "__MACOSX" in caught.value.err_msg
    assert "zip -j -X" in caught.value.err_msg


def test_a_refused_upload_is_not_retried(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    with client_for(live_server, retry=FAST) as tpns, pytest.raises(PackageRefused):
        tpns.upload_package(["alice", "b"], validate=False)
    assert "retrying" not in caplog.text


# -- credentials never leak ------------------------------------------------------------------


@pytest.mark.parametrize("auth", ["sign", "basic"])
def test_credentials_appear_in_no_repr_log_or_error(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture, auth: str
) -> None:
    secret = "s3cr3t-value-that-must-not-leak"
    basic = base64.b64encode(f"{ACCESS_ID}:{secret}".encode()).decode()
    caplog.set_level(logging.DEBUG)
    tpns = client_for(live_server, secret_key=secret, auth=auth, retry=FAST)
    texts = [repr(tpns), str(tpns), repr(tpns._core)]
    with pytest.raises(AuthError) as caught:
        tpns.upload_package(["alice", "bob"])
    texts += [str(caught.value), repr(caught.value), caught.value.err_msg]
    closed = TPNSClient(
        ACCESS_ID,
        secret,
        base_url=f"http://{ACCESS_ID}:{secret}@127.0.0.1:{free_port()}",
        auth=auth,
        retry=FAST,
    )
    with pytest.raises(TransportError) as failed:
        closed.upload_package(["alice", "bob"])
    texts += [str(failed.value), repr(failed.value), failed.value.url, repr(closed)]
    texts += [r.getMessage() for r in caplog.records]
    assert any("retrying" in r.getMessage() for r in caplog.records)  # the log was exercised
    for text in texts:
        assert secret not in text and basic not in text, text
    tpns.close()
    closed.close()


def test_transport_failure_is_wrapped_with_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with (
        TPNSClient(ACCESS_ID, SECRET, base_url=url, retry=RetryPolicy(attempts=1)) as tpns,
        pytest.raises(TransportError) as caught,
    ):
        tpns.upload_package(["alice", "bob"])
    assert caught.value.url == f"{url}/v3/push/package/upload"
    assert f"could not connect to POST {url}/v3/push/package/upload" in str(caught.value)
    assert caught.value.ret_code is None and caught.value.http_status is None


# -- retries, against a scripted HTTP server on a real socket -----------------------------------


class Scripted:
    """A loopback HTTP server answering each POST with the next (status, body) of a script."""

    def __init__(self, script: list[tuple[int, bytes]]) -> None:
        self.script = list(script)
        self.bodies: list[bytes] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                owner.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                status, body = owner.script.pop(0)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


ScriptedFactory = Callable[[list[tuple[int, bytes]]], Scripted]


@pytest.fixture
def scripted() -> Iterator[ScriptedFactory]:
    made: list[Scripted] = []

    def make(script: list[tuple[int, bytes]]) -> Scripted:
        made.append(Scripted(script))
        return made[-1]

    yield make
    for server in made:
        server.close()


RATE_LIMITED = (200, b'{"retCode":1008028,"errMsg":"request too fast"}')
OK = (200, b'{"retCode":0,"errMsg":"","uploadId":7}')


def test_rate_limit_and_5xx_are_retried_with_backoff(scripted: ScriptedFactory) -> None:
    server = scripted([RATE_LIMITED, (502, b"<html>bad gateway</html>"), OK])
    retry = RetryPolicy(attempts=3, backoff_s=0.05, max_backoff_s=1)
    started = time.monotonic()
    with TPNSClient(ACCESS_ID, SECRET, base_url=server.url, retry=retry) as tpns:
        assert tpns.upload_package(["alice", "bob"]).upload_id == 7
    assert time.monotonic() - started >= 0.025 + 0.05  # two waits, each at least half its base
    assert len(server.bodies) == 3 and server.bodies[0] == server.bodies[2]


def test_retries_give_up_after_the_configured_attempts(scripted: ScriptedFactory) -> None:
    server = scripted([RATE_LIMITED, RATE_LIMITED])
    retry = RetryPolicy(attempts=2, backoff_s=0.01)
    with (
        TPNSClient(ACCESS_ID, SECRET, base_url=server.url, retry=retry) as tpns,
        pytest.raises(RateLimitError) as caught,
    ):
        tpns.upload_package(["alice", "bob"])
    assert caught.value.ret_code == 1008028 and len(server.bodies) == 2


def test_non_json_5xx_is_a_tpns_error_with_the_status(scripted: ScriptedFactory) -> None:
    server = scripted([(503, b"upstream down")])
    with (
        TPNSClient(ACCESS_ID, SECRET, base_url=server.url, retry=RetryPolicy(attempts=1)) as tpns,
        pytest.raises(TPNSError) as caught,
    ):
        tpns.upload_package(["alice", "bob"])
    assert caught.value.http_status == 503 and caught.value.ret_code is None
    assert "upstream down" in caught.value.err_msg


def test_push_package_sends_tencents_fields_signed_and_reads_the_answer(
    scripted: ScriptedFactory,
) -> None:
    answer = (
        b'{"seq":0,"push_id":"427184209","ret_code":0,"environment":"dev",'
        b'"err_msg":"","result":"[0]"}'
    )
    too_fast = b'{"seq":0,"ret_code":1008028,"err_msg":"request too fast"}'
    server = scripted([(200, too_fast), (200, answer)])
    with TPNSClient(ACCESS_ID, SECRET, base_url=server.url, retry=FAST) as tpns:
        result = tpns.push_package(12, {"title": "t", "content": "c"}, environment="dev")
    assert (result.push_id, result.environment, result.result) == ("427184209", "dev", "[0]")
    sent = json.loads(server.bodies[-1])
    assert sent == {
        "audience_type": "package_account_push",
        "upload_id": 12,
        "message_type": "notify",
        "message": {"title": "t", "content": "c"},
        "environment": "dev",
    }


def test_push_is_not_retried_after_a_5xx(scripted: ScriptedFactory) -> None:
    server = scripted([(502, b"bad gateway"), (200, b'{"ret_code":0,"push_id":"1"}')])
    with (
        TPNSClient(ACCESS_ID, SECRET, base_url=server.url, retry=FAST) as tpns,
        pytest.raises(TPNSError) as caught,
    ):
        tpns.push({"audience_type": "all"})
    assert caught.value.http_status == 502 and len(server.bodies) == 1


def test_signature_matches_what_the_server_computes() -> None:
    core = ClientCore(ACCESS_ID, SECRET)
    call = core.push_call({"a": 1})
    headers = core.headers(call.body, now=1_700_000_000)
    assert headers["TimeStamp"] == "1700000000"
    assert headers["Sign"] == server_sign(SECRET, "1700000000", ACCESS_ID, b'{"a":1}')


# -- a malformed base_url is refused up front, and never retried ---------------------------------


@pytest.mark.parametrize(
    ("base_url", "problem"),
    [
        ("localhost:8080", "must start with http:// or https://"),
        ("127.0.0.1:8080", "must start with http:// or https://"),
        ("ftp://127.0.0.1", "must start with http:// or https://"),
        ("http://", "names no host"),
        ("http://[::1", "not a valid URL"),
        (f"http://{ACCESS_ID}:{SECRET}@127.0.0.1:port", "not a valid URL"),
    ],
)
def test_a_malformed_base_url_is_a_clear_value_error(base_url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=r"^base_url ") as caught:
        TPNSClient(ACCESS_ID, SECRET, base_url=base_url)
    assert problem in str(caught.value) and "e.g. http://" in str(caught.value)
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("failure", "retried"),
    [
        (httpx.UnsupportedProtocol("Request URL has an unsupported protocol"), False),
        (httpx.InvalidURL("x"), False),
        (httpx.ConnectError("refused"), True),  # may succeed next time
    ],
)
def test_only_a_request_that_could_succeed_is_retried(failure: Exception, retried: bool) -> None:
    tries: list[httpx.Request] = []

    def fail(request: httpx.Request) -> httpx.Response:
        tries.append(request)
        raise failure

    with (
        TPNSClient(
            ACCESS_ID,
            SECRET,
            base_url="http://127.0.0.1:9",
            retry=FAST,
            transport=httpx.MockTransport(fail),
        ) as tpns,
        pytest.raises(TransportError) as caught,
    ):
        tpns.upload_package(["alice", "bob"])
    assert len(tries) == (FAST.attempts if retried else 1)
    assert caught.value.retryable is retried
    assert caught.value.kind == type(failure).__name__


# -- rules="current": the local check follows Tencent's newer document ----------------------------


@pytest.mark.anyio
async def test_rules_current_sends_what_tencents_newer_document_accepts(tmp_path: Path) -> None:
    settings = dataclasses.replace(Settings(), data_dir=tmp_path / "data", rules=Rules.CURRENT)
    transport = httpx.ASGITransport(create_app(settings))
    csv = tmp_path / "vips.csv"
    csv.write_bytes(b"alice\nbob\n")
    archive = tmp_path / "csv-inside.zip"
    archive.write_bytes(make_zip({"vips.csv": b"carol\n"}))
    options = {"base_url": "http://tpns-mock", "transport": transport}
    async with AsyncTPNSClient(ACCESS_ID, SECRET, rules="seed", **options) as seed:  # type: ignore[arg-type]
        for path in (csv, archive):
            with pytest.raises(PackageRefused) as caught:
                await seed.upload_package(path)
            assert caught.value.local and "rules='current'" in caught.value.err_msg
    async with AsyncTPNSClient(ACCESS_ID, SECRET, rules="current", **options) as tpns:  # type: ignore[arg-type]
        for path, accounts in ((csv, "alice\nbob\n"), (archive, "carol\n")):
            upload_id = (await tpns.upload_package(path)).upload_id
            response = await tpns._http.get(f"http://tpns-mock/_mock/uploads/{upload_id}/accounts")
            assert response.text == accounts
        # a csv still holds one column, checked locally
        csv.write_bytes(b"alice,1\n")
        with pytest.raises(PackageRefused) as caught:
            await tpns.upload_package(csv)
        assert caught.value.local and "line 1" in caught.value.err_msg
    with pytest.raises(ValueError, match="rules must be"):
        ClientCore(ACCESS_ID, SECRET, rules="newest")  # type: ignore[arg-type]
