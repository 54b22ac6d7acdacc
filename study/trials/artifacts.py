"""Uploads each trial's learning curve to an Optuna artifact store, for optuna-dashboard.

The dashboard already draws intermediate values; the artifacts add the per-epoch history as a CSV
(to download) and a small PNG (to look at) on each trial's page. They must be uploaded while the
trial is still running (an RDB storage refuses attributes on a finished trial), so this wraps the
objective rather than being a study callback.
"""

from __future__ import annotations

import csv
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.artifacts import FileSystemArtifactStore, upload_artifact


class WithHistoryArtifacts:
    """An objective that, after the wrapped one ends in any way, uploads its epoch history.

    Args:
        objective: The objective to run.
        artifact_dir: Folder of the ``FileSystemArtifactStore`` (created if missing); pass the
            same folder to ``optuna-dashboard --artifact-dir``.
    """

    def __init__(self, objective: Callable[[optuna.Trial], Any], artifact_dir: Path) -> None:
        artifact_dir.mkdir(parents=True, exist_ok=True)
        self._objective = objective
        self._store = FileSystemArtifactStore(str(artifact_dir))

    def __call__(self, trial: optuna.Trial) -> Any:
        try:
            return self._objective(trial)
        finally:
            try:
                upload_history(trial, self._store)
            except OSError as exc:  # a full disk must not fail the trial it describes
                print(
                    f"warning: trial {trial.number}: artifacts not saved: {exc}", file=sys.stderr
                )


def upload_history(trial: optuna.Trial, store: FileSystemArtifactStore) -> list[str]:
    """Uploads ``history.csv`` and ``history.png`` of a running trial; returns artifact ids."""
    history = [float(v) for v in trial.user_attrs.get("val_accuracy_history", [])]
    if not history:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / f"trial-{trial.number}-history.csv"
        with csv_path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["epoch", "val_accuracy"])
            writer.writerows((epoch + 1, value) for epoch, value in enumerate(history))
        png_path = Path(tmp) / f"trial-{trial.number}-history.png"
        _plot(history, trial.number, png_path)
        return [
            upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=trial)
            for path in (csv_path, png_path)
        ]


def _plot(history: list[float], number: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3.2, 2.2))
    ax.plot(range(1, len(history) + 1), history, marker="o")
    ax.set_xlabel("epoch")
    ax.set_ylabel("val accuracy")
    ax.set_title(f"trial {number}", fontsize=9)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)
