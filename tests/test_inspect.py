"""The /_mock/ inspection API: health, listing, 404s and reset."""

from __future__ import annotations

from urllib.parse import quote

from conftest import Mock
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from zips import accounts_zip


def test_health(mock: Mock) -> None:
    body = mock.client.get("/_mock/health").json()
    assert body["status"] == "ok" and body["rules"] == "seed"


def test_unknown_upload_is_a_json_404(mock: Mock) -> None:
    for path in ("/_mock/uploads/99", "/_mock/uploads/99/accounts"):
        response = mock.client.get(path)
        assert response.status_code == 404
        assert response.json()["error"] == "not_found" and "99" in response.json()["message"]


def test_an_upload_id_in_a_path_is_decimal_digits_or_nothing(mock: Mock) -> None:
    """Only plain digits name an upload: "1_0", "+1", " 1" or "1.0" are not ids (int() would
    take them); any other text is a JSON 404, however long or strange."""
    upload_id = mock.upload(accounts_zip(["alice"]))["uploadId"]

    @settings(max_examples=150, deadline=None)
    @given(
        text=st.one_of(
            st.text(min_size=1, max_size=30),
            st.from_regex(r"\A[ +\-0]?[0-9][0-9_. ]{0,5}\Z"),
            st.text("0123456789", min_size=20, max_size=5000),
        )
    )
    def check(text: str) -> None:
        # a "/" (even as %2F, which the test client decodes again) or a dot segment makes
        # another path, not another id
        assume("/" not in text and "%" not in text and text not in (".", ".."))
        for suffix in ("", "/accounts", "/accounts/page"):
            response = mock.client.get(f"/_mock/uploads/{quote(text, safe='')}{suffix}")
            if text.isascii() and text.isdigit() and int(text) == upload_id:
                assert response.status_code == 200, response.text
            else:
                assert response.status_code == 404, (text, response.text)
                assert response.json()["error"] == "not_found"

    check()


def test_uploads_are_listed_newest_first_with_metadata(mock: Mock) -> None:
    ids = [mock.upload(accounts_zip([f"user{i}"] * (i + 1)))["uploadId"] for i in range(3)]
    listing = mock.client.get("/_mock/uploads").json()
    assert listing["total"] == 3
    assert [u["uploadId"] for u in listing["uploads"]] == ids[::-1]
    assert [u["accountCount"] for u in listing["uploads"]] == [3, 2, 1]
    page = mock.client.get("/_mock/uploads", params={"limit": 1, "offset": 1}).json()
    assert [u["uploadId"] for u in page["uploads"]] == [ids[1]]


def test_reset_forgets_uploads_and_their_files(mock: Mock) -> None:
    first = mock.upload(accounts_zip(["alice"]))["uploadId"]
    assert mock.client.post("/_mock/reset").status_code == 200
    assert mock.client.get("/_mock/uploads").json()["total"] == 0
    assert mock.client.get(f"/_mock/uploads/{first}").status_code == 404
    assert mock.leftovers() == []
    assert mock.upload(accounts_zip(["alice"]))["uploadId"] > first


def test_reset_keeps_the_file_of_an_upload_being_stored(mock: Mock) -> None:
    """An upload whose file is in place but whose row is not yet committed survives a reset."""
    store = mock.client.app.state.store  # type: ignore[attr-defined]
    in_flight = store.packages_dir / "in-flight.zip"
    in_flight.write_bytes(b"PK")
    mock.upload(accounts_zip(["alice"]))
    mock.client.post("/_mock/reset")
    assert in_flight.exists()
    assert mock.leftovers() == ["packages/in-flight.zip"]
