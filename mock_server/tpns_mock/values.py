"""Checks on decoded JSON values shared by the push rules and the fault rules. Pure Python.

Both rule modules take bodies parsed by :func:`json.loads`, which lets through two things no
rule names but the rest of the server cannot carry: ``true`` where an integer is meant (``bool``
is an ``int`` in Python), and a lone ``\\ud800`` escape, a string that cannot be written as
UTF-8, so SQLite and every JSON answer would fail on it. One home for both, so the two rule
modules cannot drift apart.
"""

from __future__ import annotations

import re
from typing import Any, TypeGuard

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_NAME_CHARS = 80  # of a field name quoted in an error


def is_int(value: object) -> TypeGuard[int]:
    """An integer, and not ``true``/``false``."""
    return isinstance(value, int) and not isinstance(value, bool)


def has_lone_surrogate(text: str) -> bool:
    """True for a string UTF-8 cannot encode (``json.loads`` joins a valid pair into one
    character, so any surrogate left is a lone one)."""
    return _LONE_SURROGATE.search(text) is not None


def first_lone_surrogate(value: Any, name: str) -> str | None:
    """The name of the first string under ``value`` (a key or a value) holding a lone
    surrogate, written like ``message.title`` or ``account_list[3]``; None when there is none.

    Iterative, so a body nested as deep as ``json.loads`` allows cannot exhaust the stack.
    """
    stack: list[tuple[str, Any]] = [(name, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            if has_lone_surrogate(item):
                return _shorten(where)
        elif isinstance(item, dict):
            children = []
            for key, child in item.items():
                if has_lone_surrogate(key):
                    return _shorten(f"{where}.<key>" if where else "<key>")
                children.append((f"{where}.{key}" if where else key, child))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend(reversed([(f"{where}[{i}]", child) for i, child in enumerate(item)]))
    return None


def _shorten(name: str) -> str:
    return name if len(name) <= MAX_NAME_CHARS else name[: MAX_NAME_CHARS - 3] + "..."
