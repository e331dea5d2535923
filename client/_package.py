"""Turns what the caller gives ``upload_package`` into a zip file on disk, checked on the way.

Why a file: the Sign covers the whole body and must be sent before it, a retry must send the same
bytes again, and Tencent expects a Content-Length. A temporary zip written incrementally meets all
three with flat memory, whatever the number of accounts; the body is then streamed from it.

The rules are not restated here: the check is :mod:`mock_server.package`, the code the mock
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

from client.errors import PackageRefused
from mock_server.package import (
    CHUNK_BYTES,
    MAX_UPLOAD_BYTES,
    AccountChecker,
    PackageError,
    account_blocks,
    validate_package,
)

PackageSource = Union[str, "os.PathLike[str]", Iterable[str]]
MEMBER_DATE = (2020, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class PreparedPackage:
    path: Path  # the zip (or, with validate=False, whatever file was given) to send
    file_name: str  # the name sent in the form


def _refused(error: PackageError) -> PackageRefused:
    return PackageRefused(error.code, f"not sent: {error.message}")


@contextlib.contextmanager
def prepare_package(source: PackageSource, validate: bool = True) -> Iterator[PreparedPackage]:
    """Yield the file to send; a temporary zip is removed afterwards.

    ``source``: a path to a ``.zip`` (sent as is), a path to a ``.txt`` (zipped), or an iterable
    of account strings (zipped while iterated). A ``str`` is always a path. With ``validate``,
    a package breaking a rule raises :class:`PackageRefused` before anything is sent.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.suffix.lower() == ".txt":
            with _temporary_zip() as target:
                _zip_txt(path, target, validate)
                yield _checked(PreparedPackage(target, path.stem + ".zip"), validate, False)
        else:
            yield _checked(PreparedPackage(path, path.name), validate, True)
        return
    if isinstance(source, (bytes, bytearray)):
        raise TypeError("upload_package takes a path or an iterable of account strings, not bytes")
    with _temporary_zip() as target:
        _zip_accounts(source, target, validate)
        yield _checked(PreparedPackage(target, "accounts.zip"), validate, False)


@contextlib.contextmanager
def _temporary_zip() -> Iterator[Path]:
    handle, name = tempfile.mkstemp(prefix="tpns-package-", suffix=".zip")
    os.close(handle)
    try:
        yield Path(name)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)


def _checked(package: PreparedPackage, validate: bool, check_content: bool) -> PreparedPackage:
    if not validate:
        return package
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
                validate_package(handle, package.file_name)
        except PackageError as error:
            raise _refused(error) from None
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
