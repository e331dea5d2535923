"""Credentials by name: the journal and the access log keep every header's name but a value
only for harmless headers, and no query value at all; each entry says which auth was tried."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from conftest import AUTH, Mock, start_server
from hypothesis import given, settings
from hypothesis import strategies as st
from pushing import PUSH, android, signed_headers
from tpns_mock.redaction import HARMLESS_HEADERS, REDACTED, redact_headers, redact_query

SECRET = "s3cr3t-value-that-must-not-leak"
header_names = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=":"),
    min_size=1,
    max_size=20,
)


@settings(max_examples=300, database=None)
@given(name=header_names)
def test_a_header_keeps_its_value_only_if_it_is_harmless(name: str) -> None:
    shown = redact_headers([(name.encode(), SECRET.encode())])
    assert list(shown) == [name.lower()]  # every name is kept
    if name.lower() in HARMLESS_HEADERS:
        assert shown[name.lower()] == SECRET
    else:
        assert SECRET not in shown[name.lower()]


@settings(max_examples=300, database=None)
@given(
    pairs=st.lists(
        st.tuples(st.text(max_size=8), st.text(min_size=1, max_size=12)), min_size=1, max_size=5
    ),
    separator=st.sampled_from(["&", ";"]),
)
def test_no_query_value_survives_whatever_separates_them(
    pairs: list[tuple[str, str]], separator: str
) -> None:
    from urllib.parse import quote

    query = separator.join(f"{quote(k)}={quote(SECRET + v)}" for k, v in pairs)
    assert SECRET not in redact_query(query.encode())
    assert quote(SECRET) not in redact_query(query.encode())


def test_names_a_denylist_would_miss_are_redacted(mock: Mock) -> None:
    headers = {
        "X-Passwd": SECRET,
        "X-Api-Sig": SECRET,
        "X-Credentials": SECRET,
        "X-Amz-Security-Token": SECRET,
        "Cookie": f"sid={SECRET}",
        "User-Agent": "my-app/1.0",
    }
    mock.client.post(
        f"{PUSH}?pwd={SECRET}&credential={SECRET};sig={SECRET}",
        json=android(),
        auth=AUTH,
        headers=headers,
    )
    text = mock.client.get("/_mock/requests").text
    assert SECRET not in text
    entry = json.loads(text)["requests"][0]
    assert entry["headers"]["x-passwd"] == REDACTED
    assert entry["headers"]["user-agent"] == "my-app/1.0"
    assert entry["headers"]["authorization"] == f"Basic {REDACTED}"
    assert entry["query"] == f"pwd={REDACTED}&credential={REDACTED}&sig={REDACTED}"


def test_each_entry_says_which_auth_was_tried(mock: Mock) -> None:
    raw = json.dumps(android()).encode()
    mock.client.post(PUSH, content=raw, headers=signed_headers(AUTH[0], AUTH[1], raw))
    mock.client.post(PUSH, json=android(), auth=AUTH)
    mock.client.post(PUSH, json=android(), auth=(AUTH[0], "wrong"))
    mock.client.post(PUSH, json=android())
    mock.client.post(PUSH, json=android(), headers={"Authorization": "Bearer x"})
    entries = mock.client.get("/_mock/requests").json()["requests"]
    assert [e["auth"] for e in reversed(entries)] == ["sign", "basic", "basic", None, None]


def test_the_access_log_prints_no_query_value(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", "--log-level", "info")
    try:
        httpx.post(
            f"{server.url}{PUSH}?sign={SECRET}&credential={SECRET};x={SECRET}",
            json=android(),
            auth=AUTH,
            timeout=10,
        )
        httpx.get(f"{server.url}/_mock/uploads?accessId={SECRET}", timeout=10)
    finally:
        server.stop()
    log = server.output()
    assert f"{PUSH}?sign={REDACTED}&credential={REDACTED}&x={REDACTED}" in log, log
    assert SECRET not in log
