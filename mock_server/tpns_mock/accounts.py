"""One page of an accepted upload's accounts, optionally only those holding a search text.

An upload may hold millions of accounts, so a reader (the dashboard) asks for a page at a time
and never holds more than one in memory. The accounts are re-read from the stored package with
``iter_account_lines``, the code that accepted them, in blocks: whole blocks before the page
are skipped by counting their newlines, and a block is split into lines only where the page or
a match may lie. Reading to page N costs a scan of the lines before it; the store keeps no
per-account index, since nothing else needs one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class AccountPage:
    """``accounts`` as ``(line number, account)``, 1-based as in the uploaded file.

    ``matches`` is how many accounts hold the search text in all, known only when the scan
    reached the end (the last page of a search); None otherwise."""

    accounts: list[tuple[int, str]]
    more: bool
    matches: int | None


def page(blocks: Iterable[bytes], *, offset: int, limit: int, query: str = "") -> AccountPage:
    """Accounts ``offset`` to ``offset + limit`` (of those holding ``query``, case-insensitive).

    ``blocks`` are LF-terminated runs of lines, as ``iter_account_lines`` yields them. The scan
    stops as soon as it knows whether a next page exists.
    """
    if query:
        return _search(blocks, offset, limit, query.casefold())
    accounts: list[tuple[int, str]] = []
    line = 0  # lines before the current block
    for block in blocks:
        count = block.count(b"\n")
        if line + count <= offset:
            line += count
            continue
        if len(accounts) == limit:
            return AccountPage(accounts, more=True, matches=None)
        for number, account in enumerate(block.decode("utf-8").split("\n")[:-1], line + 1):
            if number <= offset:
                continue
            if len(accounts) == limit:
                return AccountPage(accounts, more=True, matches=None)
            accounts.append((number, account))
        line += count
    return AccountPage(accounts, more=False, matches=None)


def _search(blocks: Iterable[bytes], offset: int, limit: int, folded: str) -> AccountPage:
    accounts: list[tuple[int, str]] = []
    found = 0  # matches seen so far
    line = 0
    for block in blocks:
        text = block.decode("utf-8")
        if folded not in text.casefold():  # most blocks of a narrow search hold no match
            line += text.count("\n")
            continue
        for number, account in enumerate(text.split("\n")[:-1], line + 1):
            if folded not in account.casefold():
                continue
            found += 1
            if offset < found <= offset + limit:
                accounts.append((number, account))
            elif found > offset + limit:
                return AccountPage(accounts, more=True, matches=None)
        line += text.count("\n")
    return AccountPage(accounts, more=found > offset + limit, matches=found)
