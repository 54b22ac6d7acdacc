"""The speed measures in the product: even evaluation batches, backend environment, SQLite WAL."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from storage import open_storage, tune_for_writing
from study.training.settings import even_eval_batch_size

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("sizes", "largest", "expected"),
    [
        ((5000, 25000), 1024, 1000),  # the full data: both split evenly, no remainder batch
        ((400, 1000), 1024, 200),
        ((999, 1001), 1024, 1024),  # only tiny even sizes exist: keep the large batch
        ((1024, 2048), 1024, 1024),
    ],
)
def test_even_eval_batch_size(sizes: tuple[int, ...], largest: int, expected: int) -> None:
    batch = even_eval_batch_size(sizes, largest)
    assert batch == expected
    assert batch <= largest


def test_select_backend_sets_the_environment_before_keras() -> None:
    code = (
        "import os, sys\n"
        "from study.training.backend import select_backend\n"
        "import study.optimize\n"
        "assert 'keras' not in sys.modules, 'keras imported before the backend was chosen'\n"
        "env = os.environ\n"
        "print(select_backend('tensorflow'), env['KERAS_BACKEND'],\n"
        "      env['XLA_PYTHON_CLIENT_PREALLOCATE'], env['TF_FORCE_GPU_ALLOW_GROWTH'])\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["tensorflow", "tensorflow", "false", "true"]


def test_sqlite_storage_writes_through_a_write_ahead_log(tmp_path: Path) -> None:
    import optuna

    url = f"sqlite:///{tmp_path / 's.db'}"
    storage = open_storage(url, heartbeat=False)
    study = optuna.create_study(storage=storage, study_name="s")
    with sqlite3.connect(tmp_path / "s.db") as conn:  # checked, not yet written: left as it was
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    tune_for_writing(storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    with sqlite3.connect(tmp_path / "s.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    reopened = optuna.load_study(storage=open_storage(url, heartbeat=False), study_name="s")
    assert len(reopened.trials) == 2


def test_compiled_programs_are_cached_on_disk_and_read_back(tmp_path: Path) -> None:
    # Two processes compile the same model: the second reads the first one's programs.
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from study.training.backend import select_backend\n"
        "select_backend('jax', compilation_cache=Path(sys.argv[1]))\n"
        "import keras\n"
        "from search_spaces import ModelConfig, ModelSpec\n"
        "from study.training.model import build_model\n"
        "model = build_model(ModelSpec(ModelConfig(8, 4), sequence_length=10))\n"
        "model.predict(keras.ops.ones((2, 10), dtype='int32'), verbose=0)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KERAS_", "JAX_"))}
    cache = tmp_path / "jax"
    for _ in range(2):
        subprocess.run(
            [sys.executable, "-c", code, str(cache)], cwd=ROOT, env=env, check=True,
            capture_output=True,
        )  # fmt: skip
        if _ == 0:
            first = sorted(p.name for p in cache.iterdir())
    assert first, "nothing was cached"
    assert sorted(p.name for p in cache.iterdir()) == first  # all read back, nothing new
