"""Turns what the caller gives ``upload_package`` into a zip file on disk, checked on the way.

Why a file: the Sign covers the whole body and must be sent before it, a retry must send the same
bytes again, and Tencent expects a Content-Length. A temporary zip written incrementally meets all
three with flat memory, whatever the number of accounts; the body is then streamed from it.

The rules are not restated here: the check is :mod:`tpns_client.protocol.package`, the code the mock
itself runs, so the client refuses locally exactly what the mock would refuse.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from tpns_client.errors import PackageRefused
from tpns_client.protocol.package import (
    CHUNK_BYTES,
    MAX_UPLOAD_BYTES,
    AccountChecker,
    PackageError,
    Rules,
    account_blocks,
    check_file_name,
    validate_package,
)

PackageSource = Union[str, "os.PathLike[str]", Iterable[str]]
MEMBER_DATE = (2020, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class PreparedPackage:
    path: Path  # the zip (or, with validate=False, whatever file was given) to send
    file_name: str  # the name sent in the form


def _refused(error: PackageError, rules: Rules = Rules.SEED) -> PackageRefused:
    message = f"not sent: {error.message}"
    if rules is Rules.SEED and ".csv" in error.message:
        message += "; rules='current' (Tencent's newer document) also accepts .txt and .csv"
    return PackageRefused(error.code, message)


@contextlib.contextmanager
def prepare_package(
    source: PackageSource, validate: bool = True, rules: str = "seed"
) -> Iterator[PreparedPackage]:
    """Yield the file to send; a temporary zip is removed afterwards.

    ``source``: a path to a ``.zip`` (sent as is), a path to a ``.txt`` (zipped), a path to a
    ``.csv`` (sent as is: only the ``current`` rules accept one), or an iterable of account
    strings (zipped while iterated). A ``str`` is always a path. With ``validate``, a package
    breaking a rule raises :class:`PackageRefused` before anything is sent. ``rules`` picks the
    document the check follows: ``seed`` (a ``.zip`` holding one ``.txt``; accepted by both) or
    ``current`` (Tencent's newer document: also a ``.txt`` or ``.csv``, or a zip holding one).
    A ``.txt`` is zipped under both, since a zip is accepted by both and is smaller to send.
    """
    profile = Rules(rules)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.suffix.lower() == ".txt":
            with _temporary_zip() as target:
                _zip_txt(path, target, validate)
                package = PreparedPackage(target, path.stem + ".zip")
                yield _checked(package, validate, False, profile)
        else:
            yield _checked(PreparedPackage(path, path.name), validate, True, profile)
        return
    if isinstance(source, (bytes, bytearray)):
        raise TypeError("upload_package takes a path or an iterable of account strings, not bytes")
    with _temporary_zip() as target:
        _zip_accounts(source, target, validate)
        yield _checked(PreparedPackage(target, "accounts.zip"), validate, False, profile)


@contextlib.contextmanager
def _temporary_zip() -> Iterator[Path]:
    handle, name = tempfile.mkstemp(prefix="tpns-package-", suffix=".zip")
    os.close(handle)
    try:
        yield Path(name)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)


def _checked(
    package: PreparedPackage, validate: bool, check_content: bool, rules: Rules
) -> PreparedPackage:
    if not validate:
        return package
    try:
        check_file_name(package.file_name, rules)
    except PackageError as error:
        raise _refused(error, rules) from None
    size = package.path.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        raise PackageRefused(
            1008011,
            f"not sent: the package is {size:,} bytes, larger than {MAX_UPLOAD_BYTES:,} bytes "
            "(100 MiB); split the accounts into several packages",
        )
    if check_content:
        try:
            with package.path.open("rb") as handle:
                validate_package(handle, package.file_name, rules)
        except PackageError as error:
            raise _refused(error, rules) from None
    return package


def _member(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=MEMBER_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    return info


def _zip_txt(source: Path, target: Path, validate: bool) -> None:
    checker = AccountChecker()
    with (
        source.open("rb") as handle,
        zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive,
        archive.open(_member(source.name), "w") as member,
    ):
        while chunk := handle.read(CHUNK_BYTES):
            if validate:
                try:
                    checker.feed(chunk)
                except PackageError as error:
                    raise _refused(error) from None
            member.write(chunk)
    if validate:
        try:
            checker.finish()
        except PackageError as error:
            raise _refused(error) from None


def _zip_accounts(accounts: Iterable[str], target: Path, validate: bool) -> None:
    blocks = account_blocks(accounts) if validate else _unchecked_blocks(accounts)
    written = 0
    with (
        zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive,
        archive.open(_member("accounts.txt"), "w") as member,
    ):
        try:
            for block in blocks:
                member.write(block)
                written += len(block)
        except PackageError as error:
            raise _refused(error) from None
    if validate and written == 0:
        raise PackageRefused(1008012, "not sent: no accounts were given")


def _unchecked_blocks(accounts: Iterable[str], batch: int = 8192) -> Iterator[bytes]:
    group: list[str] = []
    for account in accounts:
        group.append(account)
        if len(group) >= batch:
            yield ("\n".join(group) + "\n").encode("utf-8", errors="surrogateescape")
            group = []
    if group:
        yield ("\n".join(group) + "\n").encode("utf-8", errors="surrogateescape")
