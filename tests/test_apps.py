"""Several apps: where their credentials come from, and how their uploads and pushes stay apart."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from conftest import AUTH, UPLOAD, Mock, start_server
from pushing import APPS, OTHER_APP, PUSH, package_push, push
from tpns_mock.cli import build_parser, settings_from_args
from tpns_mock.settings import Settings, load_apps_file
from zips import accounts_zip

THIRD_APP = ("1600000003", "third-app-secret-from-a-file")


def write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# -- where apps come from ----------------------------------------------------------------------


def test_apps_file_as_an_object_or_a_list(tmp_path: Path) -> None:
    as_object = write(tmp_path / "a.json", {THIRD_APP[0]: THIRD_APP[1], OTHER_APP[0]: OTHER_APP[1]})
    as_list = write(
        tmp_path / "b.json",
        [{"accessId": a, "secretKey": s} for a, s in (THIRD_APP, OTHER_APP)],
    )
    expected = {THIRD_APP[0]: THIRD_APP[1], OTHER_APP[0]: OTHER_APP[1]}
    assert load_apps_file(as_object) == expected
    assert load_apps_file(as_list) == expected


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{not json", "cannot read"),
        ('"1500000003"', "object or array"),
        ('[{"accessId": "1500000003"}]', "item 0 needs"),
        ('{"1500000003": ""}', "SecretKey of '1500000003'"),
        ('{"": "a-secret-that-stays-hidden"}', "AccessId is empty"),
        ('{"1500000003": 12345}', "not a string"),
    ],
)
def test_bad_apps_file_names_the_problem_not_the_secret(
    tmp_path: Path, content: str, words: str
) -> None:
    path = tmp_path / "apps.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=words) as caught:
        load_apps_file(path)
    assert "a-secret-that-stays-hidden" not in str(caught.value)
    assert "apps.json" in str(caught.value)


def test_missing_apps_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read the apps file"):
        load_apps_file(tmp_path / "nowhere.json")


def test_environment_adds_apps_and_sets_the_push_and_journal_settings(tmp_path: Path) -> None:
    path = write(tmp_path / "apps.json", {THIRD_APP[0]: THIRD_APP[1]})
    settings = Settings.from_env(
        {
            "TPNS_MOCK_APPS": f"{OTHER_APP[0]}:{OTHER_APP[1]}",
            "TPNS_MOCK_APPS_FILE": str(path),
            "TPNS_MOCK_RATE_LIMIT": "0",
            "TPNS_MOCK_JOURNAL_SIZE": "7",
        }
    )
    assert dict(settings.apps) == {**APPS, THIRD_APP[0]: THIRD_APP[1]}
    assert settings.push_rate_limit is False
    assert settings.journal_size == 7
    assert THIRD_APP[1] not in repr(settings)
    defaults = Settings.from_env({})
    assert (defaults.push_rate_limit, defaults.journal_size) == (True, 1000)


@pytest.mark.parametrize(
    "env",
    [{"TPNS_MOCK_RATE_LIMIT": "maybe"}, {"TPNS_MOCK_JOURNAL_SIZE": "-1"}],
)
def test_bad_environment_values_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        Settings.from_env(env)


def test_flags_win_over_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path / "apps.json", [{"accessId": THIRD_APP[0], "secretKey": THIRD_APP[1]}])
    base = Settings.from_env({"TPNS_MOCK_JOURNAL_SIZE": "7"})
    args = build_parser().parse_args(
        ["--apps-file", str(path), "--no-rate-limit", "--journal-size", "0", "--access-id", "9"]
    )
    settings = settings_from_args(args, base)
    assert dict(settings.apps) == {"9": AUTH[1], THIRD_APP[0]: THIRD_APP[1]}
    assert settings.push_rate_limit is False
    assert settings.journal_size == 0
    with pytest.raises(ValueError, match="--journal-size"):
        settings_from_args(build_parser().parse_args(["--journal-size", "-2"]), base)


# -- isolation ---------------------------------------------------------------------------------


def test_each_app_sees_only_its_own_uploads_through_tpns(make_mock: Callable[..., Mock]) -> None:
    mock = make_mock(apps=APPS, push_rate_limit=False)
    mine = mock.upload(accounts_zip(["alice", "bob"]))["uploadId"]
    theirs = mock.upload(accounts_zip(["carol", "dave"]), auth=OTHER_APP)["uploadId"]
    assert push(mock, package_push(theirs))["ret_code"] == 10010005
    assert push(mock, package_push(mine), auth=OTHER_APP)["ret_code"] == 10010005
    assert push(mock, package_push(mine))["ret_code"] == 0
    assert push(mock, package_push(theirs), auth=OTHER_APP)["ret_code"] == 0

    everything = mock.client.get("/_mock/uploads").json()
    assert everything["total"] == 2
    assert {u["accessId"] for u in everything["uploads"]} == set(APPS)
    only_theirs = mock.client.get("/_mock/uploads", params={"accessId": OTHER_APP[0]}).json()
    assert [u["uploadId"] for u in only_theirs["uploads"]] == [theirs]
    assert only_theirs["total"] == 1
    my_pushes = mock.client.get("/_mock/pushes", params={"accessId": AUTH[0]}).json()
    assert my_pushes["total"] == 1
    assert my_pushes["pushes"][0]["uploadId"] == mine


def test_live_server_with_an_apps_file(tmp_path: Path) -> None:
    path = write(tmp_path / "apps.json", {THIRD_APP[0]: THIRD_APP[1]})
    server = start_server(
        tmp_path / "data", "--apps-file", str(path), "--journal-size", "2", "--no-rate-limit"
    )
    try:
        with httpx.Client(base_url=server.url, auth=THIRD_APP, timeout=10) as http:
            files = {"file": ("a.zip", accounts_zip(["alice", "bob"]))}
            upload_id = http.post(UPLOAD, files=files).json()["uploadId"]
            for _ in range(2):
                answer = http.post(PUSH, json=package_push(upload_id)).json()
                assert answer["ret_code"] == 0, answer
            # the built-in app still works, and cannot reach the file app's upload
            other = http.post(PUSH, json=package_push(upload_id), auth=AUTH).json()
            assert other["ret_code"] == 10010005
            journal = http.get("/_mock/requests").json()
            assert journal["total"] == 2 and journal["keep"] == 2
    finally:
        server.stop()
    output = server.output()
    assert THIRD_APP[0] in output and THIRD_APP[1] not in output
