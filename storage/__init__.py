"""Turns a storage URL or path into an Optuna storage, refusing what it cannot safely open.

* ``sqlite:///path.db``: RDB storage with a heartbeat, so a killed worker's trial is failed and
  re-queued, and a long lock timeout, so a dashboard reading the file does not make writers fail.
* ``postgresql://...``: RDB storage with a heartbeat; the choice for several hosts.
* ``journal:path`` or a path ending in ``.log``: Optuna's journal file storage, the choice for
  several worker processes on one host (Optuna does not recommend SQLite for that).

Nothing here writes to a storage it has not checked: a file that is not an Optuna database is
refused before SQLAlchemy can add tables to it.
"""

from __future__ import annotations

import copy
import sqlite3
import time
import warnings
from contextlib import closing
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import FrozenTrial
from sqlalchemy.exc import IntegrityError

from storage.sqlite_speed import use_wal

#: Default seconds without a heartbeat after which a running trial's worker is taken for dead.
HEARTBEAT_GRACE = 90
#: Retries when another process is creating the same new database's schema at the same moment.
SCHEMA_RACE_RETRIES = 3
#: How often a stale trial is re-queued before it is left failed.
MAX_RETRY = 3
#: Seconds a SQLite writer waits for a lock (readers such as the dashboard hold it briefly).
SQLITE_LOCK_TIMEOUT = 60

JOURNAL_PREFIX = "journal:"
#: Tables of Optuna's RDB schema; a database holding none of them belongs to someone else.
OPTUNA_TABLES = frozenset({"studies", "trials", "version_info", "alembic_version"})


#: User attributes that say what a trial is (a notebook configuration, a repeat of a confirmed
#: one) rather than how one run of it went: the only ones a retry keeps.
PROVENANCE_ATTRS = (
    "baseline",
    "notebook_part",
    "notebook_heading",
    "confirm_key",
    "confirm_label",
    "repeat",
    "confirm_of",
)


class RetryWithProvenance(RetryHeartbeatStaleTrialCallback):
    """Optuna's retry of a failed trial, keeping only its provenance among its user attributes.

    Optuna's ``RetryHeartbeatStaleTrialCallback`` copies every user attribute into the retry, so
    a retry later pruned or failed still showed the dead run's ``val_accuracy`` and
    ``test_accuracy``. The retry is WAITING with the same params and ``PROVENANCE_ATTRS``; its
    system attributes name the failed trial (``failed_trial``, ``retry_history``).
    """

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        kept = copy.copy(trial)
        kept.user_attrs = {k: v for k, v in trial.user_attrs.items() if k in PROVENANCE_ATTRS}
        super().__call__(study, kept)


class StorageError(ValueError):
    """The storage URL cannot be used; the message is one line meant for the user."""


def kind_of(url: str) -> str:
    """Classifies a storage URL as ``sqlite``, ``postgresql``, ``mysql`` or ``journal``.

    Raises:
        StorageError: The scheme is not one this project supports.
    """
    if url.startswith(JOURNAL_PREFIX) or url.endswith(".log"):
        return "journal"
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    if "://" in url and scheme in ("sqlite", "postgresql", "mysql"):
        return scheme
    raise StorageError(
        f"unknown storage {url!r}: use sqlite:///FILE.db, postgresql://USER@HOST/DB, "
        "journal:FILE or FILE.log"
    )


def open_storage(
    url: str, *, heartbeat: bool = True, grace_period: int = HEARTBEAT_GRACE
) -> BaseStorage:
    """Opens (creating if needed) the storage a URL names.

    Args:
        url: ``sqlite:///...``, ``postgresql://...``, ``mysql://...``, ``journal:PATH`` or
            ``PATH.log``.
        heartbeat: Give RDB storages a heartbeat and re-queue stale trials (off for read-only
            use).
        grace_period: Seconds without a heartbeat before a trial is stale; beats come three
            times per grace period, so one late beat is not taken for death.

    Returns:
        An Optuna storage.

    Raises:
        StorageError: The URL is unknown, the database does not answer, or the file is not an
            Optuna storage.
    """
    kind = kind_of(url)
    if kind == "journal":
        path = Path(url.removeprefix(JOURNAL_PREFIX)).expanduser()
        if path.is_dir() or not path.parent.is_dir():
            raise StorageError(f"journal file {str(path)!r}: its folder does not exist")
        return JournalStorage(JournalFileBackend(str(path)))
    engine_kwargs: dict[str, object] = {}
    if kind == "sqlite":
        _check_sqlite_file(url)
        engine_kwargs["connect_args"] = {"timeout": SQLITE_LOCK_TIMEOUT}
    else:
        engine_kwargs["pool_pre_ping"] = True
    with warnings.catch_warnings():
        # The heartbeat is flagged experimental, but it is Optuna's documented way to recover the
        # trials of a dead worker; the warning would only alarm users on every start.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        heartbeat_kwargs: dict[str, Any] = {}
        if heartbeat:
            heartbeat_kwargs = {
                "heartbeat_interval": max(1, grace_period // 3),
                "grace_period": grace_period,
                "heartbeat_stale_trial_callback": RetryWithProvenance(MAX_RETRY),
            }
        attempt = 0
        while True:
            try:
                return RDBStorage(url, engine_kwargs=engine_kwargs, **heartbeat_kwargs)
            except IntegrityError:
                # Two processes creating a new database's schema at the same moment: the loser's
                # insert of the schema version collides. The schema exists now: open it again.
                attempt += 1
                if attempt > SCHEMA_RACE_RETRIES:
                    raise StorageError(
                        f"cannot open storage {redacted(url)}: schema race"
                    ) from None
                time.sleep(0.2 * attempt)
            except Exception as exc:  # SQLAlchemy's errors differ by driver: "cannot use it"
                reason = (
                    str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                )
                raise StorageError(f"cannot open storage {redacted(url)}: {reason}") from None


def tune_for_writing(storage: BaseStorage) -> None:
    """Switches an SQLite storage to its write-ahead log (see ``storage.sqlite_speed``).

    Called only once the study has been checked: the switch rewrites the file's header, and a
    command refused for bad input must leave the file byte for byte as it found it.
    """
    if isinstance(storage, RDBStorage) and storage.url.startswith("sqlite"):
        use_wal(storage.engine)


def release(storage: BaseStorage) -> None:
    """Closes an RDB storage's connections.

    For SQLite in WAL mode the last close folds the ``-wal`` file back into the database, so the
    ``.db`` file alone holds the whole study again (a user copying just that file loses nothing).
    """
    if isinstance(storage, RDBStorage):
        storage.engine.dispose()


def sqlite_path(url: str) -> Path | None:
    """The file behind a ``sqlite:///`` URL, or None for an in-memory database."""
    rest = url.split("://", 1)[1]
    path = rest[1:] if rest.startswith("/") else rest
    path = path.split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


def _check_sqlite_file(url: str) -> None:
    path = sqlite_path(url)
    if path is None:
        return
    if not path.exists():
        if not path.parent.is_dir():
            raise StorageError(f"cannot create {str(path)!r}: its folder does not exist")
        return
    if path.stat().st_size == 0:
        return
    try:
        # Read-only and immutable: looking must not change a byte of someone else's file.
        with closing(sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)) as conn:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError:
        raise StorageError(f"{str(path)!r} is not an SQLite database") from None
    # Any one of Optuna's tables will do: another process may be creating the schema right now.
    if tables and not tables & OPTUNA_TABLES:
        raise StorageError(f"{str(path)!r} is an SQLite database but not an Optuna storage")


def redacted(url: str) -> str:
    """The URL with its password replaced by ``***``, for messages and recorded settings.

    Both places a database URL can hold a password are covered: ``user:PASSWORD@host`` and a
    ``password=`` query parameter. Anything else, and a URL without a password, is returned as
    it came.
    """
    if "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    location, sep, query = rest.partition("?")
    if "@" in location:
        creds, host = location.rsplit("@", 1)
        user, colon, _ = creds.partition(":")
        if colon:
            location = f"{user}:***@{host}"
    if sep:
        query = "&".join(
            "password=***" if part.split("=", 1)[0].lower() == "password" else part
            for part in query.split("&")
        )
    return f"{scheme}://{location}{sep}{query}"


__all__ = [
    "StorageError",
    "kind_of",
    "open_storage",
    "redacted",
    "sqlite_path",
    "release",
    "tune_for_writing",
]
