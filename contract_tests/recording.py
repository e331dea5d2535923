"""Parity recordings: what each contract test received, with volatile values made placeholders.

``--tpns-record`` writes ``recordings/<test>.json``; every other run compares what it receives with
the recording present, so a recording made once against Tencent pins the mock to Tencent.

What is compared, and why:

- the number of TPNS answers a test received, and each one's HTTP status;
- each JSON body's keys, recursively, and every value's JSON type;
- every non-volatile value (``retCode``/``ret_code`` above all) for equality;
- ``errMsg``/``err_msg`` text only when the recording was made against the same kind of target
  (mock against mock, Tencent against Tencent): the mock deliberately words its messages more
  helpfully than Tencent, so against a Tencent recording only the field's presence and type count.
  Numbers in a message are masked (a TimeStamp's drift varies from run to run); the tests
  themselves assert the numbers that matter, such as a refused line's number.

Volatile values (ids, sequence numbers, times) become ``"<name:type>"``, so their type is still
compared. ``/_mock/`` answers are not recorded: Tencent has no such thing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VOLATILE = frozenset(
    {
        "uploadId",
        "upload_id",
        "push_id",
        "pushId",
        "seq",
        "createdAt",
        "timestamp",
        "time",
        # a push record's start time and how far the push has got when asked
        "date",
        "status",
    }
)
MESSAGES = frozenset({"errMsg", "err_msg"})


def file_name(node_id: str) -> str:
    """``contract_tests/test_upload.py::test_x[a b]`` -> ``test_upload.test_x[a_b].json``."""
    module, _, name = node_id.partition("::")
    stem = Path(module).stem + "." + name.replace("::", ".")
    return re.sub(r"[^A-Za-z0-9_.\[\]-]", "_", stem)[:180] + ".json"


def _type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    return {int: "int", float: "float", str: "str", type(None): "null"}.get(type(value), "other")


def normalize(value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: normalize(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if key in VOLATILE:
        return f"<{key}:{_type(value)}>"
    return value


def _digits(text: str) -> str:
    return re.sub(r"[0-9]+", "#", text)


def differences(recorded: Any, live: Any, compare_messages: bool, where: str = "") -> list[str]:
    """What differs between a recorded and a live (normalized) answer, as readable lines."""
    if isinstance(recorded, dict) and isinstance(live, dict):
        found = []
        for key in sorted(recorded.keys() - live.keys()):
            found.append(f"{where}.{key}: recorded but missing now")
        for key in sorted(live.keys() - recorded.keys()):
            found.append(f"{where}.{key}: new key, not in the recording")
        for key in sorted(recorded.keys() & live.keys()):
            if key in MESSAGES:
                old, new = recorded[key], live[key]
                if _type(old) != _type(new):
                    found.append(f"{where}.{key}: type {_type(new)}, recorded {_type(old)}")
                elif compare_messages and isinstance(old, str) and _digits(old) != _digits(new):
                    found.append(f"{where}.{key}: {new!r}, recorded {old!r}")
                continue
            found += differences(recorded[key], live[key], compare_messages, f"{where}.{key}")
        return found
    if isinstance(recorded, list) and isinstance(live, list):
        if len(recorded) != len(live):
            return [f"{where}: {len(live)} items, recorded {len(recorded)}"]
        found = []
        for index, (old, new) in enumerate(zip(recorded, live, strict=True)):
            found += differences(old, new, compare_messages, f"{where}[{index}]")
        return found
    if type(recorded) is not type(live) or recorded != live:
        return [f"{where}: {live!r}, recorded {recorded!r}"]
    return []


@dataclass
class Recorder:
    """Collects one test's TPNS answers; ``finish()`` writes or compares them."""

    path: Path
    target: str  # "mock" or "tencent"
    record: bool
    # a test that got answers but has no recording fails: a renamed test, or one that stopped
    # sending through the recording transport, must not lose its parity check unnoticed
    require: bool = False
    answers: list[dict[str, Any]] = field(default_factory=list)

    def add(self, method: str, path: str, status: int, content: bytes) -> None:
        try:
            body: Any = json.loads(content)
        except ValueError:
            body = "<not JSON>"
        self.answers.append(
            {"request": f"{method} {path}", "status": status, "body": normalize(body)}
        )

    def finish(self) -> None:
        if self.record:
            if self.answers:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                data = {"target": self.target, "answers": self.answers}
                text = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True)
                self.path.write_text(text + "\n", encoding="utf-8")
            return
        if not self.path.exists():
            if self.require and self.answers:
                raise AssertionError(
                    f"no recording {self.path.name} for this test's answers: make it with "
                    "--tpns-record (and commit it)"
                )
            return
        recorded = json.loads(self.path.read_text(encoding="utf-8"))
        compare_messages = recorded.get("target") == self.target
        found = differences(recorded["answers"], self.answers, compare_messages, "answers")
        if found:
            raise AssertionError(
                f"the answers do not match the recording {self.path.name} "
                f"(made against {recorded.get('target')}):\n  " + "\n  ".join(found[:20])
            )
