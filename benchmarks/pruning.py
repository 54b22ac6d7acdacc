"""Pruning savings: the same seeded study run with pruner none, median and hyperband.

Each pruner runs the product's CLI (``python -m study.optimize``) in its own process on the same
data subset, seed and trial count, without the baseline grid (baselines are never pruned, so they
would only dilute the comparison), into a throw-away SQLite file: with one process on SQLite the
sampler's seed comes from ``--seed`` alone, so every pruner starts from the same configurations
(a journal file or PostgreSQL seeds each process apart). Then the study is read back: epochs
trained, wall time, best validation accuracy and the test accuracy of that trial.

    python benchmarks/pruning.py              # 30 trials, 5000 reviews, 3 epochs
    python benchmarks/pruning.py --trials 6 --limit-train 600 --epochs 2 --pruners none,median
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import DEFAULT_DATA, ROOT, default_out, show_and_save, write_json

PRUNERS = ("none", "median", "hyperband")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=30)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--limit-train", type=int, default=5000)
    p.add_argument("--limit-test", type=int, default=5000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pruners", default=",".join(PRUNERS), help="subset of the default")
    p.add_argument("--data", default=DEFAULT_DATA, help="aclImdb folder or .tar.gz")
    p.add_argument("--backend", default="auto")
    p.add_argument("--out", type=Path, default=default_out("pruning"))
    args = p.parse_args(argv)
    for name in args.pruners.split(","):
        if name not in PRUNERS:
            p.error(f"--pruners: unknown pruner {name!r}, choose from {', '.join(PRUNERS)}")
    return args


def run_one(args: argparse.Namespace, pruner: str, folder: Path) -> dict[str, Any]:
    """Runs the CLI with one pruner; returns the row of the table."""
    import optuna
    from optuna.trial import TrialState

    from storage import open_storage

    url = f"sqlite:///{folder / f'{pruner}.db'}"
    cmd = [
        sys.executable,
        "-m",
        "study.optimize",
        f"--trials={args.trials}",
        f"--epochs={args.epochs}",
        f"--limit-train={args.limit_train}",
        f"--limit-test={args.limit_test}",
        f"--seed={args.seed}",
        f"--pruner={pruner}",
        f"--data={args.data}",
        f"--backend={args.backend}",
        f"--storage={url}",
        "--no-baseline",
        "--confirm-top=0",  # the wall time compares the pruners, not the confirmation after
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="rnn-design", storage=open_storage(url, heartbeat=False))
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = max(complete, key=lambda t: t.value or 0.0)
    return {
        "pruner": pruner,
        "trials": len(trials),
        "complete": len(complete),
        "pruned": sum(t.state == TrialState.PRUNED for t in trials),
        "epochs_trained": sum(int(t.user_attrs.get("epochs_run", 0)) for t in trials),
        "train_s": sum(float(t.user_attrs.get("train_seconds", 0.0)) for t in trials),
        "wall_s": wall,
        "best_val_accuracy": best.value,
        "best_test_accuracy": best.user_attrs.get("test_accuracy"),
        "best_trial": best.number,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-pruning-") as tmp:
        for pruner in args.pruners.split(","):
            print(f"running pruner {pruner} ...", file=sys.stderr, flush=True)
            rows.append(run_one(args, pruner, Path(tmp)))
            # Kept as it goes: a run stopped halfway still leaves the pruners it finished.
            write_json(args.out, {"benchmark": "pruning", "partial": True, "rows": rows})
    reference = next((r for r in rows if r["pruner"] == "none"), None)
    for row in rows:
        if reference is not None and row is not reference:
            row["epochs_saved_pct"] = 100 * (
                1 - row["epochs_trained"] / reference["epochs_trained"]
            )
            row["best_val_diff_pp"] = 100 * (
                row["best_val_accuracy"] - reference["best_val_accuracy"]
            )
    print(
        f"{args.trials} trials, {args.epochs} epochs, {args.limit_train} training reviews, "
        f"seed {args.seed}, no baseline grid\n"
    )
    columns = [
        "pruner",
        "complete",
        "pruned",
        "epochs_trained",
        "epochs_saved_pct",
        "train_s",
        "wall_s",
        "best_val_accuracy",
        "best_val_diff_pp",
        "best_test_accuracy",
    ]
    return show_and_save(
        args.out,
        columns,
        benchmark="pruning",
        settings=vars(args) | {"out": str(args.out)},
        rows=rows,
    )


if __name__ == "__main__":
    sys.exit(main())
