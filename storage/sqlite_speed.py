"""Makes an SQLite study file cheap to write to: write-ahead log, fsync at checkpoints only.

Optuna commits every user attribute, intermediate value and state change on its own, dozens of
commits per trial; with SQLite's default rollback journal each commit waits for fsyncs, a
measurable share of a short trial (benchmarks/README.md, "Optuna and bookkeeping overhead per
trial"). In WAL mode with ``synchronous=NORMAL`` a commit is an append to the ``-wal`` file;
it survives the process being killed, and only an operating-system crash or power cut can lose
the last commits. WAL needs a local file system (not NFS), which SQLite needs for safe locking
anyway.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def use_wal(engine: Engine) -> None:
    """Puts every connection of ``engine`` (present and future) in WAL mode with normal sync."""
    event.listen(engine, "connect", _on_connect)
    # Connections pooled before the listener existed reconnect with it.
    engine.dispose()
