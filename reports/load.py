"""Opens a stored study for reading: never creates a storage or a study, never writes a trial.

A report may run while workers write, so the storage is opened without a heartbeat (a reader
must not fail or re-queue anyone's trials) and a missing file or study is refused rather than
created.
"""

from __future__ import annotations

from pathlib import Path

import optuna

from storage import JOURNAL_PREFIX, StorageError, kind_of, open_storage, sqlite_path
from storage.optuna_private import storage_of


class ReportInputError(ValueError):
    """The storage or study cannot be read; the message is one line meant for the user."""


def load_study_readonly(url: str, name: str) -> optuna.Study:
    """Loads an existing study without creating anything.

    Args:
        url: Storage URL, as ``python -m study.optimize --storage`` takes it.
        name: Study name.

    Returns:
        The study.

    Raises:
        ReportInputError: The storage does not exist or does not answer, or holds no such study.
    """
    try:
        kind = kind_of(url)
        if kind == "sqlite":
            path = sqlite_path(url)
            if path is None or not path.is_file():
                raise ReportInputError(f"no SQLite database at {url!r}")
        elif kind == "journal":
            path = Path(url.removeprefix(JOURNAL_PREFIX)).expanduser()
            if not path.is_file():
                raise ReportInputError(f"no journal file at {str(path)!r}")
        storage = open_storage(url, heartbeat=False)
    except StorageError as exc:
        raise ReportInputError(str(exc)) from None
    names = sorted(s.study_name for s in storage.get_all_studies())
    if name not in names:
        shown = ", ".join(repr(n) for n in names) or "none"
        raise ReportInputError(f"no study {name!r} in {url} (studies there: {shown})")
    return optuna.load_study(storage=storage, study_name=name)


def load_confirm_study(study: optuna.Study) -> optuna.Study | None:
    """The study's confirmation study (``<name>-confirm``, same storage), if one exists."""
    return load_sibling(study, confirm_study_name(study.study_name))


def load_sibling(study: optuna.Study, name: str) -> optuna.Study | None:
    """Another study of the same storage (a confirmation, a reproduction), if it exists."""
    if not any(s.study_name == name for s in storage_of(study).get_all_studies()):
        return None
    return optuna.load_study(storage=storage_of(study), study_name=name)


def confirm_study_name(name: str) -> str:
    """The name ``python -m study.confirm`` gives the confirmation study of ``name``."""
    return f"{name}-confirm"
