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

import json
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
from tpns_mock.settings import Settings
from tpns_mock.store import StorageError, Store

FACTORY = "tpns_mock.workers:app_from_env"


def app_from_env() -> FastAPI:
    """What each worker process runs: a mock configured by the ``TPNS_MOCK_*`` environment."""
    return create_app(Settings.from_env())


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes ``Settings.from_env()`` give back ``settings``."""
    if settings.data_dir is None:
        raise ValueError("workers need a data dir they can share")
    return {
        "TPNS_MOCK_HOST": settings.host,
        "TPNS_MOCK_PORT": str(settings.port),
        "TPNS_MOCK_DATA_DIR": str(settings.data_dir),
        "TPNS_MOCK_RULES": settings.rules.value,
        "TPNS_MOCK_APPS_JSON": json.dumps(dict(settings.apps)),
        "TPNS_MOCK_TIMESTAMP_WINDOW": str(settings.timestamp_window_s),
        "TPNS_MOCK_MAX_INFLATED_BYTES": str(settings.max_inflated_bytes),
        "TPNS_MOCK_BODY_TIMEOUT": repr(settings.body_idle_timeout_s),
        "TPNS_MOCK_BODY_DEADLINE": repr(settings.body_deadline_s),
        "TPNS_MOCK_WORKERS": str(settings.workers),
        "TPNS_MOCK_RATE_LIMIT": "1" if settings.push_rate_limit else "0",
        "TPNS_MOCK_JOURNAL_SIZE": str(settings.journal_size),
        "TPNS_MOCK_ALLOWED_HOSTS": ",".join(settings.allowed_hosts),
    }


def run_workers(settings: Settings, *, log_level: str, announce: Callable[[Settings], None]) -> int:
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
        os.environ.pop("TPNS_MOCK_IN_MEMORY", None)
        os.environ.update(settings_env(replace(settings, data_dir=data_dir)))
        announce(settings)
        uvicorn.run(
            FACTORY,
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level=log_level,
        )
    finally:
        if throwaway:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0
