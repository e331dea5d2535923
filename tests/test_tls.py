"""HTTPS (``--tls``): a CA made once per data dir, a certificate for Tencent's hosts, clear errors;
and the loopback addresses the mock listens on by default. Through real processes and sockets."""

from __future__ import annotations

import errno
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from conftest import AUTH, UPLOAD, LiveServer, free_port, start_server
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tpns_mock import listen, tls
from zips import accounts_zip

BASIC = "Basic " + __import__("base64").b64encode(f"{AUTH[0]}:{AUTH[1]}".encode()).decode()


def trusting(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca)


def port_of(server: LiveServer) -> int:
    return int(server.url.rsplit(":", 1)[1])


def handshake(port: int, name: str, ca: Path, address: str = "127.0.0.1") -> None:
    """A TLS handshake with ``address`` that checks the certificate against ``name``."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.create_connection((address, port), timeout=10) as raw:
        assert raw.family == family
        with trusting(ca).wrap_socket(raw, server_hostname=name):
            pass


def raw_upload(port: int, host: str, ca: Path) -> dict:
    """An upload addressed to ``host`` (SNI and Host header) but sent to 127.0.0.1, as a client
    whose hosts entry or ``--resolve`` points the name at the mock would send it."""
    boundary = "tpnsboundary"
    content = accounts_zip(["alice", "bob"])
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.zip"\r\n\r\n'
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    head = (
        f"POST {UPLOAD} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {BASIC}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    name = host.rsplit(":", 1)[0]
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        trusting(ca).wrap_socket(raw, server_hostname=name) as conn,
    ):
        conn.sendall(head + body)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert b" 200 " in status_line, answer
    return __import__("json").loads(rest.split(b"\r\n\r\n", 1)[1])


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> LiveServer:
    data = tmp_path_factory.mktemp("tls") / "data"
    server = start_server(data, "--tls", "--tls-hosts", "app.internal, 10.9.8.7,*.dev.test")
    yield server
    server.stop()


def test_the_certificate_covers_tencent_hosts_loopback_and_the_setting(
    tls_server: LiveServer,
) -> None:
    assert tls_server.ca is not None
    port = port_of(tls_server)
    names = [*tls.DEFAULT_NAMES, "app.internal", "10.9.8.7", "any.dev.test"]
    assert {"api.tpns.tencent.com", "api.tpns.sgp.tencent.com", "tpns-mock"} <= set(names)
    for name in names:
        handshake(port, name, tls_server.ca)
    handshake(port, "localhost", tls_server.ca, address="::1")
    for stranger in ("api.tpns.example.com", "tencent.com", "a.b.dev.test", "10.9.8.8"):
        with pytest.raises(ssl.SSLCertVerificationError):
            handshake(port, stranger, tls_server.ca)


def test_the_journal_records_the_host_the_request_was_addressed_to(
    tls_server: LiveServer,
) -> None:
    assert tls_server.ca is not None
    port = port_of(tls_server)
    for host in ("api.tpns.hk.tencent.com", f"api.tpns.tencent.com:{port}"):
        answer = raw_upload(port, host, tls_server.ca)
        assert answer["retCode"] == 0, answer
        with httpx.Client(verify=trusting(tls_server.ca)) as client:
            entry = client.get(f"{tls_server.url}/_mock/requests?limit=1").json()["requests"][0]
        assert (entry["host"], entry["scheme"], entry["retCode"]) == (host, "https", 0), entry


def test_the_ca_is_served_and_plain_http_gets_no_answer_from_a_tls_port(
    tls_server: LiveServer,
) -> None:
    assert tls_server.ca is not None
    served = httpx.get(f"{tls_server.url}/_mock/ca.pem", verify=trusting(tls_server.ca))
    assert served.status_code == 200
    assert served.headers["content-type"] == "application/x-pem-file"
    assert served.content == tls_server.ca.read_bytes()
    assert b"PRIVATE KEY" not in served.content
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port_of(tls_server)}/_mock/health", timeout=5)


def test_without_tls_the_ca_endpoint_says_how_to_turn_it_on(live_server: LiveServer) -> None:
    answer = httpx.get(f"{live_server.url}/_mock/ca.pem")
    assert answer.status_code == 404
    assert "--tls" in answer.json()["message"]


def test_a_ca_file_removed_under_a_running_mock_is_a_404_not_a_500(make_mock, tmp_path) -> None:
    tls_dir = tmp_path / "certs"
    tls.prepare(tls_dir, ["localhost"])
    mock = make_mock(tls=True, tls_dir=tls_dir)
    assert mock.client.get("/_mock/ca.pem").content == (tls_dir / tls.CA_FILE).read_bytes()
    (tls_dir / tls.CA_FILE).unlink()
    gone = mock.client.get("/_mock/ca.pem")
    assert gone.status_code == 404 and "restart" in gone.json()["message"]


def test_the_ca_survives_restarts_and_the_new_certificate_chains_to_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_server(data, "--tls")
    try:
        assert first.ca is not None
        ca_before = first.ca.read_bytes()
        cert_before = (data / "tls" / tls.CERT_FILE).read_bytes()
    finally:
        first.stop()
    second = start_server(data, "--tls", "--tls-hosts", "later.example")
    try:
        assert second.ca is not None and second.ca.read_bytes() == ca_before
        assert (data / "tls" / tls.CERT_FILE).read_bytes() != cert_before
        # a client that saved the CA on the first run still trusts the restarted mock
        saved = tmp_path / "saved-ca.pem"
        saved.write_bytes(ca_before)
        handshake(port_of(second), "later.example", saved)
        key_modes = {
            name: (data / "tls" / name).stat().st_mode & 0o777
            for name in (tls.CA_KEY_FILE, tls.KEY_FILE)
        }
        assert set(key_modes.values()) == {0o600}, key_modes
    finally:
        second.stop()


def test_tls_with_workers_serves_from_every_worker(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--tls", "--workers", "2")
    try:
        assert server.ca is not None
        pids = set()
        for _ in range(30):
            with httpx.Client(verify=trusting(server.ca), auth=AUTH) as client:
                pids.add(client.get(f"{server.url}/_mock/health").json()["pid"])
                answer = client.post(
                    f"{server.url}{UPLOAD}", files={"file": ("a.zip", accounts_zip(["carol"]))}
                )
                assert answer.json()["retCode"] == 0
            if len(pids) == 2:
                break
        assert len(pids) == 2, pids
    finally:
        server.stop()


# -- bad input: each a clear message and exit status 2, never a traceback --------------------


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tpns_mock", "--port", str(free_port()), *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**__import__("os").environ, **(env or {})},
    )


def refused(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in done.stderr, done.stderr


def test_an_unwritable_tls_dir_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a dir")
    done = run_cli("--tls", "--in-memory", "--tls-dir", str(blocker / "tls"))
    refused(done, "cannot create or read the TLS files", str(blocker / "tls"), "--tls-dir")


def test_a_damaged_ca_is_named_with_the_way_out(tmp_path: Path) -> None:
    tls_dir = tmp_path / "data" / "tls"
    tls_dir.mkdir(parents=True)
    (tls_dir / tls.CA_FILE).write_text("-----BEGIN CERTIFICATE-----\nnope\n")
    (tls_dir / tls.CA_KEY_FILE).write_text("nope")
    done = run_cli("--tls", "--data-dir", str(tmp_path / "data"))
    refused(done, "the CA in", "cannot be read", "remove ca.pem and ca-key.pem")


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("bad_name.example", "'bad_name.example' is not a DNS name"),
        ("-lead.example", "is not a DNS name"),
        ("bücher.example", "xn--"),
        ("a..b", "is not a DNS name"),
        ("x" * 64 + ".example", "1 to 63"),
        (".".join(["abcdefghi"] * 26), "longer than 253"),
        ("has space.example", "is not a DNS name"),
        ("*", "is not a DNS name"),
        ("*.com", "is not a DNS name"),
        ("a.*.example", "is not a DNS name"),
    ],
)
def test_a_name_that_is_no_dns_name_is_refused(value: str, words: str) -> None:
    with pytest.raises(ValueError, match="--tls-hosts") as caught:
        tls.parse_names(f"ok.example,{value}", "--tls-hosts")
    assert words in str(caught.value)


def test_bad_tls_hosts_stop_the_cli_naming_the_setting(tmp_path: Path) -> None:
    refused(run_cli("--tls", "--in-memory", "--tls-hosts", "under_score"), "--tls-hosts")
    refused(
        run_cli("--tls", "--in-memory", env={"TPNS_MOCK_TLS_HOSTS": "ok.test,bad_one"}),
        "TPNS_MOCK_TLS_HOSTS",
        "'bad_one'",
    )
    refused(run_cli("--in-memory", env={"TPNS_MOCK_TLS": "maybe"}), "TPNS_MOCK_TLS")


def test_names_are_kept_in_the_form_a_certificate_holds() -> None:
    assert tls.parse_names(" API.Example.COM. ,::1, 0:0::2,*.Dev.Test", "x") == (
        "api.example.com",
        "::1",
        "::2",
        "*.dev.test",
    )
    assert tls.certificate_names(["localhost", "extra.test"])[-1] == "extra.test"
    assert tls.certificate_names(["localhost"]).count("localhost") == 1


# -- loopback both ways ---------------------------------------------------------------------


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_by_default_the_mock_answers_on_both_loopbacks(live_server: LiveServer) -> None:
    port = port_of(live_server)
    assert httpx.get(f"http://127.0.0.1:{port}/_mock/health").status_code == 200
    if not has_ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback: 127.0.0.1 alone is right")
    assert httpx.get(f"http://[::1]:{port}/_mock/health").status_code == 200
    assert f"http://[::1]:{port}" in live_server.output()


def test_an_explicit_host_binds_only_that(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--host", "127.0.0.1")
    try:
        assert httpx.get(f"{server.url}/_mock/health").status_code == 200
        if has_ipv6_loopback():
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"http://[::1]:{port_of(server)}/_mock/health")
    finally:
        server.stop()


def test_without_ipv6_the_default_falls_back_to_127_0_0_1(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = socket.socket

    def no_ipv6(family: int = socket.AF_INET, *args: object) -> socket.socket:
        if family == socket.AF_INET6:
            raise OSError(errno.EAFNOSUPPORT, "Address family not supported by protocol")
        return real(family, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(listen.socket, "socket", no_ipv6)
    sockets = listen.bind(listen.DEFAULT_HOST, 0)
    try:
        assert [s.getsockname()[0] for s in sockets] == ["127.0.0.1"]
    finally:
        for sock in sockets:
            sock.close()
    with pytest.raises(OSError, match=r"cannot listen on ::1"):
        listen.bind("::1", 0)


def test_a_taken_port_on_either_loopback_is_named(tmp_path: Path) -> None:
    if not has_ipv6_loopback():
        pytest.skip("no IPv6 loopback")
    with socket.socket(socket.AF_INET6) as taken:
        taken.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        taken.bind(("::1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "tpns_mock", "--in-memory", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"cannot listen on [::1]:{port}: address already in use" in done.stderr
    assert "choose another --port" in done.stderr


# -- generated names: every accepted name is one a TLS client matches --------------------------

LABEL_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_*. é"


def memory_handshake(server: ssl.SSLContext, client: ssl.SSLContext, name: str) -> None:
    """A full TLS handshake in memory, the client checking the certificate against ``name``."""
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    client_side = client.wrap_bio(to_client, to_server, server_hostname=name)
    server_side = server.wrap_bio(to_server, to_client, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(20):
        for key, side in (("client", client_side), ("server", server_side)):
            if done[key]:
                continue
            try:
                side.do_handshake()
                done[key] = True
            except ssl.SSLWantReadError:
                pass
        if all(done.values()):
            return
    raise AssertionError("the handshake did not finish")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    names=st.lists(
        st.one_of(
            st.text(alphabet=LABEL_CHARS, min_size=0, max_size=70),
            st.lists(
                st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True),
                min_size=1,
                max_size=5,
            ).map(".".join),
            st.ip_addresses().map(str),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_generated_names_are_refused_clearly_or_matched_by_a_real_handshake(
    names: list[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    accepted = []
    for name in names:
        try:
            checked = tls.check_name(name)
        except ValueError as exc:
            assert "DNS name" in str(exc) or "empty" in str(exc), exc
            continue
        assert tls.check_name(checked) == checked  # what the certificate holds reads back
        accepted.append(checked)
    if not accepted:
        return
    tls_dir = tmp_path_factory.mktemp("names")
    files = tls.prepare(tls_dir, tls.certificate_names(accepted))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(files.cert, files.key)
    client = trusting(files.ca)
    for name in accepted:
        memory_handshake(server, client, name.replace("*", "wild", 1))
    with pytest.raises(ssl.SSLCertVerificationError):
        memory_handshake(server, client, "not-covered.invalid")
