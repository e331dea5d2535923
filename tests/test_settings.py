"""Settings from the environment and flags: bad values are refused with the name to fix."""

from __future__ import annotations

import pytest
from tpns_client.protocol.package import Rules
from tpns_mock.cli import main
from tpns_mock.settings import Settings


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
