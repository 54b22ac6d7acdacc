"""Where a real study's time went: compiling, training, evaluating, and everything else.

Reads a study that ``python -m study.optimize`` ran (nothing is trained here) and splits each
trial's wall time (``datetime_complete - datetime_start``) with what the trial recorded:

* compile: the first epoch's excess over the trial's steady epochs (``epoch_seconds``; JAX
  compiles the training and evaluation programs during the first epoch);
* train: the epochs, less that excess (validation after each epoch included);
* test: the test-set evaluation (``test_seconds``);
* other: the rest (sampling, building the model, storage writes, garbage collection).

Trials are grouped as baselines (never pruned), sampled trials that completed and sampled
trials that were pruned; the study's wall time runs from its first trial's start to its last
trial's end.

    python benchmarks/study_profile.py --storage sqlite:///rnn_design_study.db
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import default_out, show_and_save

PARTS = ("compile", "train", "test", "other")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--storage", default="sqlite:///rnn_design_study.db", help="Optuna storage")
    p.add_argument("--study-name", default="rnn-design")
    p.add_argument("--out", type=Path, default=default_out("study_profile"))
    return p.parse_args(argv)


def split(trial: Any) -> dict[str, float] | None:
    """A finished trial's wall time in compile / train / test / other seconds."""
    if trial.datetime_start is None or trial.datetime_complete is None:
        return None
    # Trials trained together (study.confirm, study.reproduce) share one wall-clock span.
    together = int(trial.user_attrs.get("trained_with", 1))
    wall = (trial.datetime_complete - trial.datetime_start).total_seconds() / together
    epochs = [float(s) for s in trial.user_attrs.get("epoch_seconds", [])]
    if not epochs:
        return {"wall": wall, "compile": 0.0, "train": 0.0, "test": 0.0, "other": wall}
    steady = statistics.median(epochs[1:]) if len(epochs) > 1 else None
    compile_s = max(0.0, epochs[0] - steady) if steady is not None else 0.0
    train = sum(epochs) - compile_s
    test = float(trial.user_attrs.get("test_seconds", 0.0))
    return {
        "wall": wall,
        "compile": compile_s,
        "train": train,
        "test": test,
        "other": max(0.0, wall - compile_s - train - test),
    }


def group_of(trial: Any) -> str:
    if "baseline" in trial.user_attrs:
        return "baselines"
    return f"sampled, {trial.state.name.lower()}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import optuna

    from storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(
        study_name=args.study_name, storage=open_storage(args.storage, heartbeat=False)
    )
    trials = [t for t in study.get_trials(deepcopy=False) if t.datetime_complete is not None]
    if not trials:
        print(f"study {args.study_name!r} has no finished trial", file=sys.stderr)
        return 0
    groups: dict[str, list[dict[str, float]]] = {}
    epochs: dict[str, int] = {}
    for trial in trials:
        parts = split(trial)
        if parts is None:
            continue
        name = group_of(trial)
        groups.setdefault(name, []).append(parts)
        epochs[name] = epochs.get(name, 0) + int(trial.user_attrs.get("epochs_run", 0))
    rows = []
    for name, members in sorted(groups.items()):
        row: dict[str, Any] = {"trials": name, "count": len(members), "epochs": epochs[name]}
        row["wall s"] = sum(m["wall"] for m in members)
        for part in PARTS:
            row[f"{part} s"] = sum(m[part] for m in members)
        rows.append(row)
    total: dict[str, Any] = {"trials": "all", "count": sum(r["count"] for r in rows)}
    total["epochs"] = sum(r["epochs"] for r in rows)
    for key in ("wall s", *(f"{part} s" for part in PARTS)):
        total[key] = sum(r[key] for r in rows)
    rows.append(total)
    start = min(t.datetime_start for t in trials if t.datetime_start is not None)
    end = max(t.datetime_complete for t in trials if t.datetime_complete is not None)
    study_wall = (end - start).total_seconds()
    return show_and_save(
        args.out,
        list(rows[0]),
        note=f"\nstudy wall time {study_wall:.0f} s ({study_wall / 60:.1f} min) from the first "
        f"trial's start to the last one's end; trials' own wall time {total['wall s']:.0f} s",
        benchmark="study_profile",
        study=args.study_name,
        study_wall_s=study_wall,
        rows=rows,
        config=study.user_attrs.get("config"),
    )


if __name__ == "__main__":
    sys.exit(main())
