"""What the dashboard reads, without a browser: account pages and search, the journal's errMsg
and app filter, the settings summary, and the page's files (served, packaged, offline)."""

from __future__ import annotations

import itertools
import re
from importlib.resources import files
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import AUTH, UPLOAD, Mock
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_offline_docs import CSS_LOADS, JS_LOADS, References, external_loads
from tpns_mock import accounts
from tpns_mock.routes import dashboard
from zips import accounts_zip

REPO = Path(__file__).resolve().parent.parent

# accounts as the mock accepts them: 2 to 100 characters, no control characters, with letters
# whose case folds (ß, Σ, ǅ) so that search is tried on more than ASCII
ACCOUNT = st.text(alphabet=st.sampled_from("abcXYZ019-_@.ßΣσǅ好"), min_size=2, max_size=12).filter(
    lambda a: a.strip() == a
)


def expected_page(
    all_accounts: list[str], offset: int, limit: int, q: str
) -> tuple[list[tuple[int, str]], bool]:
    """The page by brute force: every numbered account, filtered, sliced."""
    numbered = list(enumerate(all_accounts, 1))
    if q:
        numbered = [(n, a) for n, a in numbered if q.casefold() in a.casefold()]
    return numbered[offset : offset + limit], len(numbered) > offset + limit


def blocks_of(all_accounts: list[str], cuts: list[int]) -> list[bytes]:
    """The accounts as LF-terminated blocks, split after the lines in ``cuts``."""
    bounds = sorted({c for c in cuts if 0 < c < len(all_accounts)})
    edges = [0, *bounds, len(all_accounts)]
    return [
        "".join(f"{a}\n" for a in all_accounts[start:end]).encode()
        for start, end in itertools.pairwise(edges)
        if end > start
    ]


@settings(max_examples=300, deadline=None)
@given(
    all_accounts=st.lists(ACCOUNT, max_size=60),
    cuts=st.lists(st.integers(0, 60), max_size=8),
    offset=st.integers(0, 70),
    limit=st.integers(1, 25),
    q=st.one_of(st.just(""), ACCOUNT.map(lambda a: a[: len(a) // 2 + 1]), st.just("SS")),
)
def test_an_account_page_is_the_slice_of_the_whole(
    all_accounts: list[str], cuts: list[int], offset: int, limit: int, q: str
) -> None:
    found = accounts.page(blocks_of(all_accounts, cuts), offset=offset, limit=limit, query=q)
    want, more = expected_page(all_accounts, offset, limit, q)
    assert found.accounts == want
    assert found.more == more
    if q and not more:
        assert found.matches == len([a for a in all_accounts if q.casefold() in a.casefold()])


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    all_accounts=st.lists(ACCOUNT, min_size=1, max_size=40),
    offset=st.integers(0, 45),
    limit=st.integers(1, 10),
    q=st.one_of(st.just(""), st.sampled_from(["a", "ß", "SS", "\u03c3", "好", "9-"])),
)
def test_the_account_page_endpoint_reads_the_stored_package(
    mock: Mock, all_accounts: list[str], offset: int, limit: int, q: str
) -> None:
    upload_id = mock.upload(accounts_zip(all_accounts, newline="\r\n"))["uploadId"]
    got = mock.client.get(
        f"/_mock/uploads/{upload_id}/accounts/page",
        params={"offset": offset, "limit": limit, "q": q},
    )
    assert got.status_code == 200, got.text
    body = got.json()
    want, more = expected_page(all_accounts, offset, limit, q)
    assert [(a["line"], a["account"]) for a in body["accounts"]] == want
    assert body["more"] == more
    assert body["accountCount"] == len(all_accounts)
    assert (body["uploadId"], body["offset"], body["limit"], body["q"]) == (
        upload_id,
        offset,
        limit,
        q,
    )


def test_a_page_deep_into_a_large_upload(mock: Mock) -> None:
    many = [f"user-{n:06}" for n in range(1, 200_001)]
    upload_id = mock.upload(accounts_zip(many))["uploadId"]
    page = f"/_mock/uploads/{upload_id}/accounts/page"
    last = mock.client.get(page, params={"offset": 199_990, "limit": 1000}).json()
    assert [a["line"] for a in last["accounts"]] == list(range(199_991, 200_001))
    assert last["accounts"][-1]["account"] == "user-200000"
    assert last["more"] is False
    middle = mock.client.get(page, params={"offset": 100_000, "limit": 2}).json()
    assert middle["accounts"] == [
        {"line": 100_001, "account": "user-100001"},
        {"line": 100_002, "account": "user-100002"},
    ]
    assert middle["more"] is True
    # a narrow search stops once it knows a next page exists: no count yet
    search = mock.client.get(page, params={"q": "USER-1", "limit": 3}).json()
    assert search["accounts"] == [
        {"line": n, "account": f"user-{n}"} for n in (100_000, 100_001, 100_002)
    ]
    assert search["more"] is True
    assert search["matches"] is None
    # the last page of a search knows how many matched
    tail = mock.client.get(page, params={"q": "-19999", "limit": 100}).json()
    assert [a["account"] for a in tail["accounts"]] == [f"user-19999{d}" for d in range(10)]
    assert tail["matches"] == 10


def test_account_page_refuses_what_it_cannot_serve(mock: Mock) -> None:
    upload_id = mock.upload(accounts_zip(["alice", "bob"]))["uploadId"]
    page = f"/_mock/uploads/{upload_id}/accounts/page"
    gone = mock.client.get("/_mock/uploads/999/accounts/page")
    assert gone.status_code == 404
    assert gone.json()["error"] == "not_found"
    for params in ({"limit": 0}, {"limit": 1001}, {"offset": -1}, {"q": "x" * 101}):
        assert mock.client.get(page, params=params).status_code == 422, params
    assert mock.client.get("/_mock/uploads/0/accounts/page").status_code == 404
    assert mock.client.get(f"/_mock/uploads/{2**70}/accounts/page").status_code == 404


def test_the_journal_keeps_the_errmsg_of_each_answer(mock: Mock) -> None:
    refused = mock.upload(accounts_zip(["alice", "b"]))
    assert refused["retCode"] == 1008011
    mock.upload(accounts_zip(["alice", "bob"]))
    bad_push = mock.client.post("/v3/push/app", json={"audience_type": "all"}, auth=AUTH)
    assert bad_push.json()["ret_code"] == 1008002
    denied = mock.client.post(UPLOAD, files={"file": ("a.zip", b"x")}, auth=("1", "2"))
    assert denied.status_code == 403
    journal = mock.client.get("/_mock/requests").json()["requests"]
    assert [e["retCode"] for e in journal] == [1008003, 1008002, 0, 1008011]
    assert journal[0]["errMsg"] == denied.json()["errMsg"]
    assert journal[1]["errMsg"] == bad_push.json()["err_msg"]
    assert journal[2]["errMsg"] == ""
    assert journal[3]["errMsg"] == refused["errMsg"]
    assert "line 2" in journal[3]["errMsg"]


def test_the_journal_can_be_read_for_one_app(make_mock: Any) -> None:
    mock = make_mock(apps={"1500000001": "first-secret-key", "1500000002": "second-secret-key"})
    first, second = ("1500000001", "first-secret-key"), ("1500000002", "second-secret-key")
    for auth in (first, second, second):
        mock.upload(accounts_zip(["alice", "bob"]), auth=auth)
    mock.upload(accounts_zip(["alice", "bob"]), auth=("1500000002", "wrong"))
    everyone = mock.client.get("/_mock/requests").json()
    assert everyone["total"] == 4
    only = mock.client.get("/_mock/requests", params={"accessId": "1500000002"}).json()
    assert only["total"] == 2
    assert [e["accessId"] for e in only["requests"]] == ["1500000002", "1500000002"]
    paged = mock.client.get("/_mock/requests", params={"accessId": "1500000002", "offset": 1})
    assert [e["id"] for e in paged.json()["requests"]] == [only["requests"][1]["id"]]
    nobody = mock.client.get("/_mock/requests", params={"accessId": "nope"}).json()
    assert (nobody["total"], nobody["requests"]) == (0, [])


def test_settings_name_the_apps_but_never_a_secret(make_mock: Any) -> None:
    secrets = {"1500000001": "first-secret-key-1234", "1500000009": "ninth-secret-key-5678"}
    mock = make_mock(apps=secrets, push_rate_limit=False)
    response = mock.client.get("/_mock/settings")
    assert response.status_code == 200
    body = response.json()
    assert body["accessIds"] == ["1500000001", "1500000009"]
    assert body["rules"] == "seed"
    assert body["rateLimit"]["enabled"] is False
    for secret in secrets.values():
        # not the key, nor any tail of it that a summary might show
        assert secret[-4:] not in response.text


def test_the_page_and_its_files_are_served_with_a_strict_policy(mock: Mock) -> None:
    page = mock.client.get("/_mock/ui")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "connect-src 'self'" in policy
    parser = References()
    parser.feed(page.text)
    assert sorted(parser.loads) == ["ui/dashboard.css", "ui/dashboard.js", "ui/favicon.svg"]
    assert external_loads("http://testserver/_mock/ui", page.text) == []
    for ref in parser.loads:
        asset = mock.client.get(f"/_mock/{ref}")
        assert asset.status_code == 200, ref
        assert asset.headers["content-type"] == dashboard.ASSETS[ref.removeprefix("ui/")]
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert CSS_LOADS.findall(asset.content) == [], ref
        assert JS_LOADS.findall(asset.content) == [], ref
    for name in ("index.html.bak", "..%2Fapp.py", "missing.js"):
        assert mock.client.get(f"/_mock/ui/{name}").status_code == 404, name


def test_the_dashboard_files_are_all_served_and_all_packaged() -> None:
    folder = files("tpns_mock") / "dashboard"
    on_disk = sorted(p.name for p in folder.iterdir() if p.is_file())
    assert on_disk == sorted([dashboard.PAGE, *dashboard.ASSETS])
    for name in on_disk:
        text = (folder / name).read_text()
        # only the SVG namespace, which names and never loads
        urls = set(re.findall(r"https?://[^\s\"'`<>)]+", text)) - {"http://www.w3.org/2000/svg"}
        assert urls == set(), name
    pyproject = (REPO / "pyproject.toml").read_text()
    package_data = re.search(r"^tpns_mock = \[(.*)\]$", pyproject, re.MULTILINE)
    assert package_data is not None
    assert '"dashboard/*"' in package_data.group(1), "the wheel must carry the dashboard"


def test_the_journal_can_be_read_for_refusals_only(mock: Mock) -> None:
    mock.upload(accounts_zip(["alice", "bob"]))
    mock.upload(accounts_zip(["alice", "b"]))  # refused: line 2
    mock.upload(accounts_zip(["alice", "bob"]), auth=("1500000001", "wrong"))  # 403
    mock.client.post("/v3/push/app", json={"audience_type": "all"}, auth=AUTH)  # ret_code
    mock.client.get("/v3/push/nothing-here")  # a 404 with no return code
    mock.client.post("/_mock/faults", json={"path": UPLOAD, "action": "drop"})
    with pytest.raises(httpx.RemoteProtocolError):
        mock.upload(accounts_zip(["alice", "bob"]))
    everything = mock.client.get("/_mock/requests").json()["requests"]
    assert len(everything) == 6

    def is_refusal(entry: dict[str, Any]) -> bool:
        status, code = entry["status"], entry["retCode"]
        return entry["dropped"] or (status or 0) >= 400 or (code is not None and code != 0)

    refused = mock.client.get("/_mock/requests", params={"refused": "true"}).json()
    assert refused["total"] == 5
    assert refused["requests"] == [e for e in everything if is_refusal(e)]
    mine = mock.client.get("/_mock/requests", params={"refused": 1, "accessId": "1500000001"})
    assert [e["retCode"] for e in mine.json()["requests"]] == [1008002, 1008011]
