"""The private Optuna parts ``storage.optuna_private`` wraps still exist and behave.

Run on real studies (in memory, and SQLite with a heartbeat): an Optuna upgrade that renames
``study._storage``, ``trial._trial_id`` or ``optuna.storages._heartbeat`` fails here first.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import optuna
import pytest
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from storage import open_storage
from storage.optuna_private import heartbeat_thread, storage_of, trial_id


def test_storage_of_opens_a_sibling_study_in_the_same_storage(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(storage=url, study_name="a")
    optuna.create_study(storage=url, study_name="b")
    storage = storage_of(study)
    assert isinstance(storage, BaseStorage)
    assert sorted(s.study_name for s in storage.get_all_studies()) == ["a", "b"]
    assert optuna.load_study(storage=storage, study_name="b").study_name == "b"


def test_trial_id_is_the_storages_id_of_live_and_frozen_trials() -> None:
    study = optuna.create_study()
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    other = optuna.create_study(storage=storage_of(study))  # same storage: ids go on
    live = other.ask()
    storage = storage_of(study)
    assert trial_id(live) != live.number == 0
    assert storage.get_trial(trial_id(live)).number == 0
    frozen = study.trials[1]
    assert storage.get_trial(trial_id(frozen)).params == frozen.params
    storage.set_trial_user_attr(trial_id(live), "fail_reason", "x")
    assert other.trials[0].user_attrs == {"fail_reason": "x"}


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")  # asked by hand
def test_heartbeat_thread_records_a_trials_heartbeat(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    study = optuna.create_study(storage=open_storage(f"sqlite:///{path}"), study_name="h")
    trial = study.ask()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT COUNT(*) FROM trial_heartbeats").fetchone() == (0,)
    with heartbeat_thread(study, trial):
        pass  # the thread beats once as it starts, then every interval until it stops
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT trial_id FROM trial_heartbeats").fetchall()
    assert rows == [(trial_id(trial),)]
    study.tell(trial, 1.0)
    assert study.trials[0].state == TrialState.COMPLETE


def test_heartbeat_thread_is_a_no_op_without_a_heartbeat_storage() -> None:
    study = optuna.create_study()
    trial = study.ask()
    thread = heartbeat_thread(study, trial)
    thread.start()
    thread.join()
    assert study.trials[0].state == TrialState.RUNNING
