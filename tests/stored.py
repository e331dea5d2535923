"""What a data dir holds, read from outside the server: the packages it keeps (files in
``packages/`` and small packages kept in the database) and uploads still arriving (``tmp/``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def stored_packages(data_dir: Path) -> list[str]:
    """Every stored package's name: a file in ``packages/`` or a row kept in the database."""
    files = [p.name for p in (data_dir / "packages").iterdir()]
    database = data_dir / "tpns-mock.sqlite3"
    if not database.exists():
        return sorted(files)
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
    try:
        rows = [r[0] for r in db.execute("SELECT stored_name FROM package_contents")]
    finally:
        db.close()
    return sorted(files + rows)


def leftovers(data_dir: Path) -> list[str]:
    """Packages stored or arriving: must be none after a refusal (or only those accepted)."""
    arriving = [f"tmp/{p.name}" for p in (data_dir / "tmp").iterdir()]
    return sorted(arriving + [f"packages/{name}" for name in stored_packages(data_dir)])
