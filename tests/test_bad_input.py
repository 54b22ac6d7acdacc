"""Every bad input: one line on stderr naming the value, exit 2, no traceback, nothing written."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
from optuna.distributions import IntDistribution

from search_spaces.lstm import DISTRIBUTIONS
from study.training.data import fingerprint_source
from tests.conftest import ROOT
from tests.postgres import _free_port

Setup = Callable[[Path, Path], list[str]]  # (tmp_path, tiny data) -> extra flags


def optuna_db(path: Path, direction: str = "maximize", name: str = "rnn-design") -> Path:
    study = optuna.create_study(storage=f"sqlite:///{path}", study_name=name, direction=direction)
    study.add_trial(
        optuna.trial.create_trial(
            params={"units": 2}, distributions={"units": IntDistribution(1, 4)}, value=0.5
        )
    )
    return path


def other_direction(tmp: Path, data: Path) -> list[str]:
    db = optuna_db(tmp / "study.db", direction="minimize")
    return ["--data", str(data), "--storage", f"sqlite:///{db}"]


def other_space(tmp: Path, data: Path) -> list[str]:
    db = optuna_db(tmp / "study.db")  # units searched over 1..4, ours is 8..256 (log)
    return ["--data", str(data), "--storage", f"sqlite:///{db}"]


def recorded_study(tmp: Path, config: dict) -> str:
    """A study of ours that recorded its settings and holds one finished trial."""
    url = f"sqlite:///{tmp / 'study.db'}"
    study = optuna.create_study(storage=url, study_name="rnn-design", direction="maximize")
    study.set_user_attr("config", config)
    params = {
        "units": 8,
        "embedding_dim": 8,
        "layers": 1,
        "dropout": 0.0,
        "recurrent_dropout": 0.0,
    }
    study.add_trial(
        optuna.trial.create_trial(params=params, distributions=DISTRIBUTIONS, value=0.7)
    )
    return url


def other_settings(tmp: Path, data: Path) -> list[str]:
    url = recorded_study(
        tmp, {"data_fingerprint": fingerprint_source(data), "seed": 0, "epochs": 5}
    )
    return ["--data", str(data), "--storage", url, "--trials", "1", "--seed", "3", "--epochs", "1"]


def other_data(tmp: Path, data: Path) -> list[str]:
    url = recorded_study(tmp, {"data_fingerprint": "sha256:" + "0" * 64, "seed": 0})
    return ["--data", str(data), "--storage", url, "--trials", "1"]


def text_file(tmp: Path, data: Path) -> list[str]:
    (tmp / "notes.db").write_text("not a database\n")
    return ["--data", str(data), "--storage", f"sqlite:///{tmp / 'notes.db'}"]


def foreign_sqlite(tmp: Path, data: Path) -> list[str]:
    with sqlite3.connect(tmp / "app.db") as conn:
        conn.execute("CREATE TABLE users (id INTEGER)")
    return ["--data", str(data), "--storage", f"sqlite:///{tmp / 'app.db'}"]


def silent_database(tmp: Path, data: Path) -> list[str]:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/nobody"
    return ["--data", str(data), "--storage", url]


def wrong_layout(tmp: Path, data: Path) -> list[str]:
    (tmp / "reviews").mkdir()
    (tmp / "reviews" / "a.txt").write_text("great film")
    return ["--data", str(tmp / "reviews")]


CASES: list[tuple[str, Setup, str]] = [
    ("trials", lambda t, d: ["--trials", "0"], "--trials must be positive, got 0"),
    ("epochs", lambda t, d: ["--epochs", "0"], "--epochs must be positive, got 0"),
    ("workers", lambda t, d: ["--workers", "-2"], "--workers must be positive, got -2"),
    ("val-split-0", lambda t, d: ["--val-split", "0"], "--val-split must be between 0 and 1"),
    ("val-split-1", lambda t, d: ["--val-split", "1"], "--val-split must be between 0 and 1"),
    ("scheme", lambda t, d: ["--storage", "mongodb://x/y"], "unknown storage 'mongodb://x/y'"),
    (
        "sqlite-workers",
        lambda t, d: ["--workers", "2", "--storage", f"sqlite:///{t / 'study.db'}"],
        "--workers 2 with SQLite",
    ),
    ("silent-database", silent_database, "cannot open storage postgresql+psycopg://"),
    ("not-sqlite", text_file, "is not an SQLite database"),
    ("not-optuna", foreign_sqlite, "is an SQLite database but not an Optuna storage"),
    ("direction", other_direction, "exists with direction(s) [minimize], not [maximize]"),
    ("search-space", other_space, "searched units over IntDistribution"),
    (
        "dropout-style",
        lambda t, d: [
            "--data",
            str(d),
            "--storage",
            recorded_study(t, {"dropout_style": "keras3"}),
        ],  # noqa: E501
        "--dropout-style keras3 (stored) vs keras2 (now)",
    ),
    (
        # Studies from before --dropout-style trained Keras 3's LSTM as it is.
        "legacy-dropout-style",
        lambda t, d: ["--data", str(d), "--storage", recorded_study(t, {"seed": 0})],
        "--dropout-style keras3 (stored) vs keras2 (now)",
    ),
    (
        "repeats",
        lambda t, d: [
            "--data",
            str(d),
            "--repeats",
            "3",
            "--storage",
            recorded_study(t, {"repeats": 1}),
        ],
        "--repeats 1 (stored) vs 3 (now)",
    ),
    (
        "max-lstm-params",
        lambda t, d: ["--max-lstm-params", "-1"],
        "--max-lstm-params must be 0 (no cap) or positive, got -1",
    ),
    (
        # Studies from before --max-lstm-params sampled every configuration.
        "legacy-cost-cap",
        lambda t, d: [
            "--data",
            str(d),
            "--storage",
            recorded_study(t, {"dropout_style": "keras2", "seed": 0}),
        ],
        "--max-lstm-params 0 (stored) vs 70144 (now)",
    ),
    (
        "other-settings",
        other_settings,
        "was run with other settings: --seed 0 (stored) vs 3 (now); --epochs 5 (stored) vs 1",
    ),
    ("other-data", other_data, "--data: other reviews (the study's sha256:000000000000"),
    ("missing-data", lambda t, d: ["--data", str(t / "nope")], "no such file or folder"),
    ("wrong-layout", wrong_layout, "no train/pos or train/neg reviews found"),
    (
        "limit-train",
        lambda t, d: ["--data", str(d), "--limit-train", "100000"],
        "--limit-train 100000 is larger than the 200 reviews",
    ),
]


@pytest.mark.parametrize(("setup", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(setup: Setup, message: str, tmp_path: Path, tiny_imdb: Path) -> None:
    flags = setup(tmp_path, tiny_imdb)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    result = subprocess.run(
        [sys.executable, "-m", "study.optimize", "--cache-dir", str(tmp_path / "cache"), *flags],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    after = {
        p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and "cache" not in p.parts
    }
    assert after == before  # byte-identical; nothing new written
