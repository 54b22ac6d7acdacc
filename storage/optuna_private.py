"""The few private parts of Optuna the project relies on, in one place.

Optuna offers no public way to reach a study's storage, a trial's storage id, or the heartbeat
thread ``study.optimize`` gives its trials (needed for trials asked by hand). Every use goes
through here, and ``tests/test_optuna_private.py`` fails if an Optuna upgrade changes them.
"""

from __future__ import annotations

import optuna
from optuna.storages import BaseStorage
from optuna.storages._heartbeat import BaseHeartbeatThread, get_heartbeat_thread
from optuna.trial import BaseTrial, FrozenTrial


def storage_of(study: optuna.Study) -> BaseStorage:
    """The storage ``study`` reads and writes (``study._storage``), e.g. to open a sibling."""
    return study._storage


def trial_id(trial: BaseTrial | FrozenTrial) -> int:
    """The storage's id of ``trial`` (``trial._trial_id``), unique per storage."""
    return trial._trial_id  # type: ignore[union-attr]


def heartbeat_thread(study: optuna.Study, trial: BaseTrial | FrozenTrial) -> BaseHeartbeatThread:
    """The heartbeat ``study.optimize`` gives its trials, for a trial asked by hand.

    A context manager (or ``start()``/``join()``) that records the trial's heartbeat while it
    runs, so another process can tell when this one died; a no-op without a heartbeat storage.
    """
    return get_heartbeat_thread(trial_id(trial), storage_of(study))
