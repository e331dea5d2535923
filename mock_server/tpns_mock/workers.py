"""``--workers N``: several server processes on one port and one data dir.

uvicorn starts workers by importing an app factory in each fresh process, so the settings cannot
be handed over as an object: the parent writes them into the environment (the same
``TPNS_MOCK_*`` variables a user would set) and each worker reads them back with
``Settings.from_env()``. Flags therefore reach every worker exactly as they reached the parent.

The workers share state only through the data dir: SQLite in WAL mode hands out uploadIds
(AUTOINCREMENT inside ``BEGIN IMMEDIATE``), so ids stay unique and increasing whichever worker
answers, and any worker can show any upload. uvicorn's supervisor passes SIGTERM on to every
worker, and each finishes its in-flight requests before exiting.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from tpns_mock.app import create_app
from tpns_mock.settings import ALIASES, Settings
from tpns_mock.store import StorageError, Store

FACTORY = "tpns_mock.workers:app_from_env"


def app_from_env() -> FastAPI:
    """What each worker process runs: a mock configured by the ``TPNS_MOCK_*`` environment."""
    return create_app(Settings.from_env())


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes ``Settings.from_env()`` give back ``settings``: every declared
    setting's variable, so a new setting reaches the workers without a change here."""
    if settings.data_dir is None:
        raise ValueError("workers need a data dir they can share")
    return settings.to_env()


def run_workers(settings: Settings, *, announce: Callable[[Settings], None]) -> int:
    """Serve with ``settings.workers`` processes until SIGTERM or SIGINT; returns the exit code.

    An in-memory mock gets one throwaway data dir made here, shared by all workers and removed
    when the last one has stopped.
    """
    throwaway = settings.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="tpns-mock-")) if throwaway else settings.data_dir
    assert data_dir is not None
    try:
        # create the schema and clean up after a crash once, before any worker opens the store;
        # an unusable data dir fails here, with one error instead of one per worker
        try:
            Store(data_dir).close()
        except StorageError as exc:
            print(f"tpns-mock: {exc}", file=sys.stderr)
            return 1
        for alias in ALIASES:  # the declared variables below say everything, exactly
            if alias.env:
                os.environ.pop(alias.env, None)
        os.environ.update(settings_env(replace(settings, data_dir=data_dir)))
        announce(settings)
        uvicorn.run(
            FACTORY,
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level=settings.log_level,
        )
    finally:
        if throwaway:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0
