"""The same contract through ``AsyncTPNSClient``: what an app using the client sees."""

from __future__ import annotations

from pathlib import Path

import pytest
from tpns_client import AsyncTPNSClient, AuthError, PackageRefused, RetryPolicy

from contract_tests.conftest import RecordingTransport, Target
from contract_tests.raw import Api, accounts_zip

pytestmark = pytest.mark.anyio
NO_RETRY = RetryPolicy(attempts=1)


def make_client(
    target: Target, transport: RecordingTransport, **options: object
) -> AsyncTPNSClient:
    options = {"access_id": target.access_id, "secret_key": target.secret_key, **options}
    return AsyncTPNSClient(base_url=target.url, transport=transport, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("auth", ["sign", "basic"])
async def test_client_uploads_accounts(
    target: Target, transport: RecordingTransport, auth: str
) -> None:
    async with make_client(target, transport, auth=auth) as tpns:
        result = await tpns.upload_package(["alice", "bob", "张三"])
    assert isinstance(result.upload_id, int) and result.upload_id > 0


@pytest.mark.mock_only
async def test_client_uploads_a_txt_and_a_zip(
    target: Target, transport: RecordingTransport, api: Api, tmp_path: Path
) -> None:
    txt = tmp_path / "vips.txt"
    txt.write_text("alice\r\nbob\n", encoding="utf-8")
    archive = tmp_path / "vips.zip"
    archive.write_bytes(accounts_zip(["carol", "dave"]))
    async with make_client(target, transport) as tpns:
        from_txt = await tpns.upload_package(txt)
        from_zip = await tpns.upload_package(str(archive))
    assert await api.accounts(from_txt.upload_id) == ["alice", "bob"]
    assert await api.accounts(from_zip.upload_id) == ["carol", "dave"]


async def test_client_refuses_a_bad_account_before_sending(
    target: Target, transport: RecordingTransport
) -> None:
    async with make_client(target, transport) as tpns:
        with pytest.raises(PackageRefused) as caught:
            await tpns.upload_package(["alice", "b", "carol"])
    assert caught.value.local and caught.value.ret_code == 1008011
    assert "account 2 ('b')" in caught.value.err_msg
    assert "2 to 100 characters" in caught.value.err_msg


async def test_server_refusal_is_package_refused(
    target: Target, transport: RecordingTransport
) -> None:
    async with make_client(target, transport, retry=NO_RETRY) as tpns:
        with pytest.raises(PackageRefused) as caught:
            await tpns.upload_package(["alice", "b"], validate=False)
    assert not caught.value.local
    assert (caught.value.ret_code, caught.value.http_status) == (1008011, 200)


async def test_server_refuses_an_empty_package_with_1008012(
    target: Target, transport: RecordingTransport
) -> None:
    async with make_client(target, transport, retry=NO_RETRY) as tpns:
        with pytest.raises(PackageRefused) as caught:
            await tpns.upload_package([], validate=False)
    assert caught.value.ret_code == 1008012


@pytest.mark.parametrize("auth", ["sign", "basic"])
async def test_wrong_secret_is_auth_error_without_the_secret(
    target: Target, transport: RecordingTransport, auth: str
) -> None:
    secret = "wrong-secret-0123456789"
    async with make_client(target, transport, secret_key=secret, auth=auth) as tpns:
        with pytest.raises(AuthError) as caught:
            await tpns.upload_package(["alice", "bob"])
    assert (caught.value.ret_code, caught.value.http_status) == (1008003, 403)
    assert secret not in str(caught.value) and secret not in repr(caught.value)
