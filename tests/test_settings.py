"""Settings from the environment and flags: bad values are refused with the name to fix."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tpns_client.protocol.package import Rules
from tpns_mock.cli import build_parser, main, settings_from_args
from tpns_mock.settings import Settings, Spec, readme_table, settings_specs, specs


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"TPNS_MOCK_PORT": "abc"}, "TPNS_MOCK_PORT: expected an integer, not 'abc'"),
        ({"TPNS_MOCK_PORT": "99999"}, "TPNS_MOCK_PORT: expected from 0 to 65535"),
        ({"TPNS_MOCK_RULES": "new"}, "TPNS_MOCK_RULES: expected seed or current, not 'new'"),
        ({"TPNS_MOCK_TIMESTAMP_WINDOW": "-5"}, "TPNS_MOCK_TIMESTAMP_WINDOW: expected at least 0"),
        ({"TPNS_MOCK_BODY_TIMEOUT": "soon"}, "TPNS_MOCK_BODY_TIMEOUT: expected a number"),
        ({"TPNS_MOCK_WORKERS": "0"}, "TPNS_MOCK_WORKERS: expected at least 1"),
        ({"TPNS_MOCK_IN_MEMORY": "maybe"}, "TPNS_MOCK_IN_MEMORY: expected 1/0"),
        ({"TPNS_MOCK_APPS": "no-colon"}, "ACCESS_ID:SECRET_KEY"),
    ],
)
def test_bad_environment_values_name_the_variable(env: dict[str, str], words: str) -> None:
    with pytest.raises(ValueError) as caught:
        Settings.from_env(env)
    assert words in str(caught.value)


def test_good_environment_values_are_read() -> None:
    settings = Settings.from_env(
        {"TPNS_MOCK_PORT": "9000", "TPNS_MOCK_RULES": "current", "TPNS_MOCK_IN_MEMORY": "on"}
    )
    assert (settings.port, settings.rules, settings.data_dir) == (9000, Rules.CURRENT, None)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--port", "99999"], "--port / TPNS_MOCK_PORT: expected from 0 to 65535, not 99999"),
        (["--timestamp-window", "-5"], "--timestamp-window / TPNS_MOCK_TIMESTAMP_WINDOW"),
        (["--workers", "0"], "--workers / TPNS_MOCK_WORKERS: expected at least 1"),
    ],
)
def test_bad_flags_exit_2_with_the_flag_named(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert words in capsys.readouterr().err


# -- one declaration drives the CLI, the environment, the hand-over and README.md -------------


def different(spec: Spec) -> Any:
    """A valid value for ``spec`` other than its default."""
    if spec.kind is bool:
        return not spec.default
    if spec.kind in (int, float):
        value = spec.default + 1
        return (
            value - 2
            if spec.declaration.high is not None and value > spec.declaration.high
            else value
        )
    if spec.kind is Rules:
        return Rules.CURRENT
    if spec.kind is Path:
        return Path("/elsewhere/data")
    if spec.kind is Mapping:
        return {"1500000009": "secret:nine", "1500000010": ' a,b "c" '}
    if spec.kind is tuple:
        return ("app.internal", "10.0.0.7", "*.dev.test")
    return f"{spec.default}-changed" if spec.default else "changed"


def test_every_declared_setting_is_handed_over_exactly() -> None:
    """What ``--workers`` relies on: from_env(to_env(settings)) gives every field back."""
    changed = replace(Settings(), **{spec.name: different(spec) for spec in specs()})
    assert all(getattr(changed, s.name) != getattr(Settings(), s.name) for s in specs())
    assert Settings.from_env(changed.to_env()) == changed


@pytest.mark.parametrize("spec", specs(), ids=lambda spec: spec.name)
def test_every_declared_setting_reads_its_variable_and_flag(spec: Spec) -> None:
    value = different(spec)
    text = spec.text(value)
    assert getattr(Settings.from_env({spec.declaration.env: text}), spec.name) == value
    assert getattr(Settings.from_env({spec.declaration.env: ""}), spec.name) == spec.default
    if spec.declaration.flag:
        argv = [spec.declaration.flag] + ([] if spec.kind is bool else [text])
        parsed = settings_from_args(build_parser().parse_args(argv), Settings())
        assert getattr(parsed, spec.name) == value
        assert spec.declaration.flag in build_parser().format_help()


@pytest.mark.parametrize(
    "spec", [s for s in specs() if s.declaration.low is not None], ids=lambda spec: spec.name
)
def test_every_bound_is_checked_naming_the_variable(spec: Spec) -> None:
    low = spec.declaration.low
    assert low is not None
    below = spec.kind(low - 1)
    with pytest.raises(ValueError, match=f"{spec.declaration.env}: expected"):
        Settings.from_env({spec.declaration.env: str(below)})


def test_readme_settings_table_is_the_declarations() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert readme_table() in readme, (
        "README.md's settings table drifted: python -m tpns_mock.settings --write README.md"
    )


def test_in_memory_wins_over_a_data_dir_and_exact_apps_over_the_app_settings() -> None:
    env = {
        "TPNS_MOCK_DATA_DIR": "/data",
        "TPNS_MOCK_IN_MEMORY": "1",
        "TPNS_MOCK_ACCESS_ID": "7",
        "TPNS_MOCK_APPS_JSON": '{"8": "eight"}',
    }
    settings = Settings.from_env(env)
    assert settings.data_dir is None
    assert dict(settings.apps) == {"8": "eight"}
    args = build_parser().parse_args(["--in-memory", "--data-dir", "/x", "--secret-key", "s"])
    flagged = settings_from_args(args, Settings.from_env({"TPNS_MOCK_ACCESS_ID": "7"}))
    assert (flagged.data_dir, dict(flagged.apps)) == (None, {"7": "s"})


def test_a_field_without_a_declaration_is_refused() -> None:
    @dataclasses.dataclass(frozen=True)
    class Undeclared:
        port: int = 1

    with pytest.raises(TypeError, match=r"Undeclared\.port needs declare"):
        list(settings_specs(Undeclared))


def test_create_app_without_settings_leaves_nothing_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient
    from tpns_mock.app import create_app

    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("TPNS_MOCK_")]:
        monkeypatch.delenv(name)
    with TestClient(create_app()) as client:
        assert client.get("/_mock/health").status_code == 200
        data_dir = client.app.state.store.data_dir  # type: ignore[attr-defined]
        assert data_dir.exists() and tmp_path not in data_dir.parents
    assert list(tmp_path.iterdir()) == [] and not data_dir.exists()
    monkeypatch.setenv("TPNS_MOCK_DATA_DIR", str(tmp_path / "kept"))
    with TestClient(create_app()):
        pass
    assert (tmp_path / "kept" / "tpns-mock.sqlite3").exists()
