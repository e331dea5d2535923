"""The dashboard in a real headless Chromium (Debian's, driven by Playwright; no browser is
downloaded), against a real ``tpns-mock`` process on a free port.

Every request the browser makes is recorded, and any that leaves the mock's origin is refused
and fails the test. Skipped where Chromium or Playwright is missing, except under CI (``CI``
set), where that is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import AUTH, UPLOAD, LiveServer, start_server
from zips import accounts_zip

CHROMIUM = os.environ.get("TPNS_MOCK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SECOND = ("1500000002", "second-app-secret-key")
REPO = Path(__file__).resolve().parent.parent
WAIT_MS = 15_000  # the page polls every 2 s; a busy CI machine may be slow to render


def _chromium_or_skip() -> Any:
    """Playwright's sync API, once Chromium and Playwright are both there."""
    missing = []
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        missing.append(f"Chromium ({CHROMIUM}; apt-get install chromium)")
    try:
        from playwright import sync_api
    except ImportError:
        missing.append("Playwright (pip install -e '.[test]')")
        sync_api = None
    if missing:
        reason = f"{' and '.join(missing)} not installed"
        if os.environ.get("CI"):
            pytest.fail(f"browser tests must run in CI: {reason}")
        pytest.skip(reason)
    return sync_api


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = _chromium_or_skip()
    # every expectation may wait for the page's next poll, on a machine that may be busy
    sync_api.expect.set_options(timeout=WAIT_MS)
    with sync_api.sync_playwright() as playwright:
        # a fresh, throwaway profile for each launch
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        yield launched
        launched.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    live = start_server(
        tmp_path / "data",
        "--no-rate-limit",
        env={"TPNS_MOCK_APPS": f"{SECOND[0]}:{SECOND[1]}"},
    )
    yield live
    live.stop()


@dataclass
class Dashboard:
    """One browser tab on a mock's dashboard, with every request it made."""

    page: Any
    url: str
    requests: list[Any] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # off-origin requests, blocked

    def expect(self, locator: Any) -> Any:
        from playwright.sync_api import expect

        return expect(locator)

    def row(self, table: str, attribute: str, value: object) -> Any:
        return self.page.locator(f"#{table}-table tbody tr[data-{attribute}='{value}']")


@pytest.fixture
def open_dashboard(browser: Any, server: LiveServer) -> Iterator[Any]:
    contexts: list[Any] = []
    origin = urlsplit(server.url).netloc

    def open_(width: int = 1280, height: int = 800) -> Dashboard:
        context = browser.new_context(
            viewport={"width": width, "height": height}, locale="en-US", timezone_id="UTC"
        )
        contexts.append(context)
        board = Dashboard(context.new_page(), server.url)
        context.on("request", lambda request: board.requests.append(request))

        def only_the_mock(route: Any) -> None:
            parts = urlsplit(route.request.url)
            if parts.scheme in ("data", "blob") or parts.netloc == origin:
                route.continue_()
            else:
                board.refused.append(route.request.url)
                route.abort()

        context.route("**/*", only_the_mock)
        board.page.goto(f"{server.url}/_mock/ui")
        board.page.wait_for_selector("body[data-refreshed]", state="attached")
        return board

    yield open_
    for context in contexts:
        context.close()


def stays_home(board: Dashboard) -> None:
    """Nothing the page asked for left the mock, and its writes were same-origin JSON."""
    assert board.refused == []
    origin = urlsplit(board.url).netloc
    assert board.requests, "the page made no request at all"
    for request in board.requests:
        assert urlsplit(request.url).netloc == origin, request.url
        if request.method in ("POST", "PUT", "PATCH") or request.post_data:
            assert request.headers.get("content-type") == "application/json", request.url


def package(lines: list[str]) -> bytes:
    return accounts_zip(lines)


def upload(url: str, lines: list[str], name: str = "accounts.zip", auth: Any = AUTH) -> Any:
    response = httpx.post(f"{url}{UPLOAD}", files={"file": (name, package(lines))}, auth=auth)
    return response.json()


def push(url: str, body: dict[str, Any], auth: Any = AUTH) -> Any:
    return httpx.post(f"{url}/v3/push/app", json=body, auth=auth).json()


def package_push(upload_id: int) -> dict[str, Any]:
    return {
        "audience_type": "package_account_push",
        "upload_id": upload_id,
        "message_type": "notify",
        "message": {"title": "Hi", "content": "Your order shipped"},
    }


# markup in a file name and an account, which would run script and add elements if the page
# ever put server text into the DOM as HTML instead of as text (the mock keeps only the part of
# a file name after its last slash or backslash, so the markup has none)
HOSTILE_NAME = "<img src=x onerror=document.title=1><b>bold.zip"
HOSTILE_ACCOUNT = "<script>document.title=2</script>"


def test_the_page_shows_uploads_refusals_pushes_and_faults(open_dashboard: Any) -> None:
    board = open_dashboard()
    url = board.url
    accepted = upload(url, ["alice", HOSTILE_ACCOUNT, "carol"], name=HOSTILE_NAME)
    assert accepted["retCode"] == 0
    refused = upload(url, ["alice", "b"])
    assert refused["retCode"] == 1008011
    sent = push(url, package_push(accepted["uploadId"]))
    assert sent["ret_code"] == 0
    fault = httpx.post(
        f"{url}/_mock/faults", json={"path": "/v3/push/app", "retCode": 1008028, "times": 2}
    ).json()
    assert push(url, package_push(accepted["uploadId"]))["ret_code"] == 1008028

    page = board.page
    uploaded = board.row("uploads", "upload-id", accepted["uploadId"])
    board.expect(uploaded).to_contain_text(HOSTILE_NAME, timeout=WAIT_MS)
    board.expect(uploaded).to_contain_text("1500000001")
    board.expect(uploaded.locator("td").nth(3)).to_have_text("3")
    assert page.locator("main img, main b, main script").count() == 0

    pushed = board.row("pushes", "push-id", sent["push_id"])
    board.expect(pushed).to_contain_text("package_account_push")
    board.expect(pushed).to_contain_text(f"#{accepted['uploadId']}")

    refusals = page.locator("#requests-table tbody tr.refused")
    board.expect(refusals).to_have_count(2)
    upload_refusal = refusals.filter(has_text="1008011")
    board.expect(upload_refusal).to_contain_text(refused["errMsg"])
    board.expect(upload_refusal).to_contain_text("refused")
    board.expect(upload_refusal).to_contain_text("basic")
    board.expect(refusals.filter(has_text="1008028")).to_contain_text(f"fault {fault['id']}")
    # an accepted call is not marked, and shows no errMsg (a push's success says NO_ERROR)
    accepted_calls = page.locator("#requests-table tbody tr:not(.refused)")
    board.expect(accepted_calls).to_have_count(2)
    for row in accepted_calls.all():
        board.expect(row.locator("td").nth(5)).to_have_text("")

    armed = board.row("faults", "fault-id", fault["id"])
    board.expect(armed).to_contain_text("/v3/push/app")
    board.expect(armed.locator("td").nth(6)).to_have_text("1")  # remaining
    board.expect(armed.locator("td").nth(7)).to_have_text("1")  # fired

    board.expect(page.locator("#settings")).to_contain_text("1500000002")
    board.expect(page.locator("#settings")).to_contain_text("seed")
    assert "secret" not in page.content().lower()

    # the push's request body, as sent
    pushed.get_by_role("button", name=f"Request body of push {sent['push_id']}").click()
    body = page.locator("#push-body")
    board.expect(body).to_contain_text('"upload_id": ' + str(accepted["uploadId"]))
    board.expect(body).to_contain_text("Your order shipped")
    page.keyboard.press("Escape")
    board.expect(page.locator("#push-dialog")).not_to_be_visible()

    uploaded.get_by_role("button").click()
    board.expect(page.locator("#accounts-table tbody")).to_contain_text(HOSTILE_ACCOUNT)
    assert page.locator("#accounts-table script").count() == 0
    page.keyboard.press("Escape")
    assert page.title() == "tpns-mock dashboard"
    stays_home(board)


def test_the_journal_updates_live(open_dashboard: Any) -> None:
    board = open_dashboard()
    rows = board.page.locator("#requests-table tbody tr[data-request-id]")
    board.expect(rows).to_have_count(0)
    first = upload(board.url, ["alice", "bob"])
    board.expect(rows).to_have_count(1, timeout=WAIT_MS)
    upload(board.url, ["alice", "x"])
    board.expect(rows).to_have_count(2, timeout=WAIT_MS)
    # newest first, and the refusal stands out
    board.expect(rows.first).to_have_class(re.compile(r"\brefused\b"))
    board.expect(rows.nth(1)).not_to_have_class(re.compile(r"\brefused\b"))
    board.expect(board.row("uploads", "upload-id", first["uploadId"])).to_be_visible()
    # the auth scheme of each call: Basic above, Tencent's signature here
    from tpns_client import TPNSClient

    with TPNSClient(*AUTH, base_url=board.url, auth="sign") as tpns:
        tpns.upload_package(["carol", "dave"])
    board.expect(rows).to_have_count(3, timeout=WAIT_MS)
    board.expect(rows.first.locator("td").nth(8)).to_have_text("sign")
    board.expect(rows.nth(1).locator("td").nth(8)).to_have_text("basic")
    # refusals only, filtered by the server
    board.page.get_by_label("Refusals only").check()
    board.expect(rows).to_have_count(1)
    board.expect(rows.first).to_contain_text("1008011")
    board.page.get_by_label("Refusals only").uncheck()
    board.expect(rows).to_have_count(3)
    # one entry as journaled: what the app sent, its credentials redacted
    rows.first.get_by_role("button", name=re.compile("Details of request")).click()
    entry = board.page.locator("#request-entry")
    board.expect(entry).to_contain_text('"sign": "[redacted]"')
    board.expect(entry).to_contain_text("multipart/form-data")
    assert AUTH[1] not in entry.text_content()
    board.page.keyboard.press("Escape")
    board.page.get_by_role("button", name="Clear the journal").click()
    board.expect(board.page.locator("#requests-table tbody")).to_contain_text("No requests yet")
    assert httpx.get(f"{board.url}/_mock/requests").json()["total"] == 0
    stays_home(board)


def test_arming_and_disarming_faults_from_the_page(open_dashboard: Any) -> None:
    board = open_dashboard()
    page = board.page
    form = page.locator("#fault-form")
    form.get_by_label("Path").fill("/v3/push/package/upload")
    form.get_by_label("retCode").fill("1008004")
    form.get_by_label("errMsg").fill("service busy")
    form.get_by_label("HTTP status").fill("503")
    form.get_by_label("Times").fill("2")
    form.get_by_role("button", name="Arm fault").click()
    board.expect(page.locator("#status")).to_contain_text("armed", timeout=WAIT_MS)
    faults = httpx.get(f"{board.url}/_mock/faults").json()["faults"]
    assert [
        (f["path"], f["action"], f["retCode"], f["errMsg"], f["httpStatus"], f["remaining"])
        for f in faults
    ] == [("/v3/push/package/upload", "error", 1008004, "service busy", 503, 2)]
    answer = httpx.post(
        f"{board.url}{UPLOAD}", files={"file": ("a.zip", package(["alice", "bob"]))}, auth=AUTH
    )
    assert (answer.status_code, answer.json()["retCode"]) == (503, 1008004)
    armed = board.row("faults", "fault-id", faults[0]["id"])
    board.expect(armed.locator("td").nth(7)).to_have_text("1", timeout=WAIT_MS)  # fired

    # a drop fault, by keyboard: the error-only fields go away
    form.get_by_label("Action").select_option("drop")
    board.expect(form.get_by_label("retCode")).to_be_hidden()
    form.get_by_label("Every matching request").check()
    form.get_by_label("Path").focus()
    page.keyboard.press("Enter")
    board.expect(page.locator("#faults-table tbody tr[data-fault-id]")).to_have_count(2)
    dropped = httpx.get(f"{board.url}/_mock/faults").json()["faults"][1]
    assert (dropped["action"], dropped["times"], dropped["retCode"]) == ("drop", None, None)

    # the server's refusal is shown, and nothing is armed
    form.get_by_label("Action").select_option("delay")
    form.get_by_label("Delay (ms)").fill("0")
    form.get_by_role("button", name="Arm fault").click()
    board.expect(page.locator("#fault-error")).to_contain_text("delayMs")
    assert len(httpx.get(f"{board.url}/_mock/faults").json()["faults"]) == 2

    armed.get_by_role("button", name=f"Disarm fault {faults[0]['id']}").click()
    board.expect(page.locator("#faults-table tbody tr[data-fault-id]")).to_have_count(1)
    assert [f["id"] for f in httpx.get(f"{board.url}/_mock/faults").json()["faults"]] == [
        dropped["id"]
    ]
    page.get_by_role("button", name="Disarm all").click()
    board.expect(page.locator("#faults-table tbody")).to_contain_text("No faults armed")
    assert httpx.get(f"{board.url}/_mock/faults").json()["faults"] == []

    # a push that is accepted and then fails, and its status on the page
    made = upload(board.url, ["alice", "bob"])
    form.get_by_label("Path").fill("/v3/push/app")
    form.get_by_label("Action").select_option("fail")
    form.get_by_label("Every matching request").uncheck()
    form.get_by_label("Times").fill("1")
    form.get_by_role("button", name="Arm fault").click()
    board.expect(page.locator("#faults-table tbody tr[data-fault-id]")).to_have_count(1)
    failing = push(board.url, package_push(made["uploadId"]))
    finishing = push(board.url, package_push(made["uploadId"]))
    assert failing["ret_code"] == finishing["ret_code"] == 0
    status = 4  # the Status column
    failed = board.row("pushes", "push-id", failing["push_id"]).locator("td").nth(status)
    board.expect(failed).to_have_text("PUSH_FAILED")
    finished = board.row("pushes", "push-id", finishing["push_id"]).locator("td").nth(status)
    board.expect(finished).to_have_text("PUSH_FINISHED")
    stays_home(board)


def test_reset_asks_first(open_dashboard: Any) -> None:
    board = open_dashboard()
    page = board.page
    made = upload(board.url, ["alice", "bob"])
    row = board.row("uploads", "upload-id", made["uploadId"])
    board.expect(row).to_be_visible(timeout=WAIT_MS)

    page.get_by_role("button", name="Reset…").click()
    dialog = page.locator("#reset-dialog")
    board.expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    board.expect(dialog).not_to_be_visible()
    assert httpx.get(f"{board.url}/_mock/uploads").json()["total"] == 1

    page.get_by_role("button", name="Reset…").click()
    dialog.get_by_role("button", name="Reset everything").click()
    board.expect(page.locator("#status")).to_contain_text("reset")
    assert httpx.get(f"{board.url}/_mock/uploads").json()["total"] == 0
    board.expect(page.locator("#uploads-table tbody")).to_contain_text("No uploads yet")
    board.expect(page.locator("#requests-table tbody")).to_contain_text("No requests yet")
    stays_home(board)


def test_accounts_are_paged_and_searched_on_the_server(open_dashboard: Any) -> None:
    board = open_dashboard()
    page = board.page
    lines = [f"vip-{n:05}" for n in range(1, 2501)]
    made = upload(board.url, lines)
    opener = page.get_by_role("button", name=re.compile(rf"Accounts of upload {made['uploadId']}"))
    opener.first.click(timeout=WAIT_MS)
    dialog = page.locator("#upload-dialog")
    board.expect(dialog).to_be_visible()
    shown = dialog.locator("#accounts-table tbody tr")
    board.expect(shown).to_have_count(100)
    board.expect(shown.first).to_contain_text("vip-00001")
    board.expect(dialog.locator("#accounts-summary")).to_contain_text("1\u2013100 of 2,500")
    dialog.get_by_role("button", name="Next page of accounts").click()
    board.expect(shown.first).to_contain_text("vip-00101")
    board.expect(dialog.locator("#accounts-summary")).to_contain_text("101\u2013200 of 2,500")

    search = dialog.get_by_label("Search accounts")
    search.fill("IP-0024")  # any case, anywhere in the account
    search.press("Enter")
    board.expect(shown).to_have_count(10)
    board.expect(shown.first).to_have_text("240vip-00240")
    board.expect(dialog.locator("#accounts-summary")).to_contain_text("1\u201310 of 10")
    search.fill("24")
    search.press("Enter")
    matches = [(n, a) for n, a in enumerate(lines, 1) if "24" in a]
    assert len(matches) == 154
    board.expect(shown.first).to_have_text(f"{matches[0][0]}{matches[0][1]}")
    board.expect(shown).to_have_count(100)
    dialog.get_by_role("button", name="Next page of accounts").click()
    board.expect(shown).to_have_count(54)
    board.expect(dialog.locator("#accounts-summary")).to_contain_text("101\u2013154 of 154")
    board.expect(shown.last).to_have_text(f"{matches[-1][0]}{matches[-1][1]}")
    page.keyboard.press("Escape")
    board.expect(dialog).not_to_be_visible()

    # the browser was given pages, never the whole upload
    paths = [urlsplit(r.url).path for r in board.requests]
    assert f"/_mock/uploads/{made['uploadId']}/accounts" not in paths
    pages = [r for r in board.requests if r.url.split("?")[0].endswith("/accounts/page")]
    assert len(pages) == 5
    for request in pages:
        response = request.response()
        assert response is not None
        assert len(response.body()) < 10_000
    stays_home(board)


def test_the_app_filter(open_dashboard: Any) -> None:
    board = open_dashboard()
    page = board.page
    mine = upload(board.url, ["alice", "bob"])
    theirs = upload(board.url, ["carol", "dave"], auth=SECOND)
    board.expect(page.locator("#uploads-table tbody tr[data-upload-id]")).to_have_count(
        2, timeout=WAIT_MS
    )
    page.get_by_label("App").select_option(SECOND[0])
    board.expect(page.locator("#uploads-table tbody tr[data-upload-id]")).to_have_count(1)
    board.expect(board.row("uploads", "upload-id", theirs["uploadId"])).to_be_visible()
    board.expect(board.row("uploads", "upload-id", mine["uploadId"])).to_have_count(0)
    board.expect(page.locator("#requests-table tbody tr[data-request-id]")).to_have_count(1)
    stays_home(board)


def test_keyboard_only(open_dashboard: Any) -> None:
    board = open_dashboard()
    page = board.page
    made = upload(board.url, ["alice", "bob"])
    board.expect(board.row("uploads", "upload-id", made["uploadId"])).to_be_visible(timeout=WAIT_MS)
    # Tab from the top reaches the upload's button; Enter opens it, Escape closes it
    page.locator("body").focus()
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.dataset.key") == f"open-{made['uploadId']}":
            break
    else:
        raise AssertionError("Tab never reached the upload's Accounts button")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", "")
    page.keyboard.press("Enter")
    dialog = page.locator("#upload-dialog")
    board.expect(dialog).to_be_visible()
    board.expect(dialog.locator("#accounts-table tbody tr")).to_have_count(2)
    board.expect(dialog.get_by_label("Search accounts")).to_be_focused()
    page.keyboard.press("Escape")
    board.expect(dialog).not_to_be_visible()
    # the live refresh leaves focus where it was
    button = page.get_by_role("button", name=re.compile(rf"Accounts of upload {made['uploadId']}"))
    button.focus()
    upload(board.url, ["carol", "dave"])
    board.expect(page.locator("#uploads-table tbody tr[data-upload-id]")).to_have_count(
        2, timeout=WAIT_MS
    )
    assert page.evaluate("document.activeElement.dataset.key") == f"open-{made['uploadId']}"
    # every control has a name a screen reader can read
    unnamed = page.evaluate(
        """[...document.querySelectorAll('input, select, button')].filter(
            (e) => !e.labels?.length && !e.getAttribute('aria-label') && !e.textContent.trim()
        ).map((e) => e.outerHTML)"""
    )
    assert unnamed == []
    stays_home(board)


@pytest.mark.parametrize("width", [1280, 390])
def test_readable_without_sideways_scrolling(open_dashboard: Any, width: int) -> None:
    board = open_dashboard(width=width, height=800)
    page = board.page
    for n in range(3):
        upload(board.url, [f"account-{n}-{m}" for m in range(5)], name=f"package-{n}.zip")
    upload(board.url, ["alice", "b"])
    board.expect(page.locator("#requests-table tbody tr.refused")).to_have_count(1, timeout=WAIT_MS)
    # the page itself never scrolls sideways: wide tables scroll inside their own box
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    font = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    assert font >= 14
    # every button, and the errMsg of a refusal, can be reached without scrolling sideways
    for button in page.locator("main button:visible").all():
        box = button.bounding_box()
        assert box is not None
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, button.text_content()
    errmsg = page.locator("#requests-table tbody tr.refused td.errmsg")
    board.expect(errmsg).to_contain_text("line 2")
    box = errmsg.bounding_box()
    assert box is not None and box["x"] + box["width"] <= width
    # still a table to a screen reader, whatever the layout
    assert page.get_by_role("table").count() >= 4
    cell = page.get_by_role("row").filter(has_text="package-2.zip").get_by_role("cell").nth(1)
    board.expect(cell).to_contain_text("package-2.zip")
    stays_home(board)


def test_the_screenshot_script_makes_a_picture(tmp_path: Path) -> None:
    _chromium_or_skip()
    out = tmp_path / "dashboard.png"
    done = subprocess.run(
        [sys.executable, str(REPO / "docs" / "screenshot.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TPNS_MOCK_CHROMIUM": CHROMIUM},
    )
    assert done.returncode == 0, done.stderr
    head = out.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(head[16:20], "big") == 1280  # the width, from the IHDR chunk


def test_the_recorder_sees_a_request_that_leaves(open_dashboard: Any) -> None:
    """The check every test above ends with would catch a page that reached out."""
    board = open_dashboard()
    blank = board.page.context.new_page()  # about:blank, without the dashboard's policy
    blank.set_content('<img src="http://198.51.100.7/pixel.png" alt="">')
    blank.wait_for_load_state()
    assert board.refused == ["http://198.51.100.7/pixel.png"]
    with pytest.raises(AssertionError):
        stays_home(board)
