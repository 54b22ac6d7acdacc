"""Our training path under each installed Keras backend (TensorFlow, JAX; PyTorch if installed).

Same worker as ``benchmarks/training.py``'s "ours": the trainer a study trial runs
(``study.training.trainer.train_repeats``, one seed, the objective's settings; validation on the
held-out split, test set evaluated once), one process per (configuration, backend): Keras reads
``KERAS_BACKEND`` once. Under JAX the trainer runs its compiled ``lax.scan`` program; under
TensorFlow (and PyTorch) it trains epoch by epoch through ``model.fit``, its fallback mode; the
``mode`` column says which ran.

    python benchmarks/backends.py                               # units8 and dropout0.4, 3 epochs
    python benchmarks/backends.py --configs units8 --epochs 2 --limit-train 2000
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    DEFAULT_DATA,
    check_epochs_and_configs,
    default_out,
    run_worker,
    show_and_save,
)
from benchmarks.training import CONFIGS, TRIAL_EPOCHS, summarize

BACKENDS = {"jax": "jax", "tensorflow": "tensorflow", "torch": "torch"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3, help="epochs per run (>= 2)")
    p.add_argument("--configs", default="units8,dropout0.4", help=f"of {','.join(CONFIGS)}")
    p.add_argument("--data", default=DEFAULT_DATA)
    p.add_argument("--limit-train", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=default_out("backends"))
    args = p.parse_args(argv)
    check_epochs_and_configs(p, args, CONFIGS)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    installed = [b for b, module in BACKENDS.items() if importlib.util.find_spec(module)]
    rows = []
    training = str(Path(__file__).resolve().parent / "training.py")
    for name in args.configs.split(","):
        for backend in installed:
            cmd = [
                training,
                "--worker=ours",
                f"--configs={name}",
                f"--epochs={args.epochs}",
                f"--backend={backend}",
                f"--data={args.data}",
                f"--seed={args.seed}",
            ]
            cmd += [f"--limit-train={args.limit_train}"] if args.limit_train else []
            print(f"running {name} / {backend} ...", file=sys.stderr, flush=True)
            rows.append(summarize(name, "ours", run_worker(cmd), args.epochs))
    for name in args.configs.split(","):
        mine = [r for r in rows if r["config"] == name]
        fastest = min(r["trial5_s"] for r in mine)
        for row in mine:
            row["vs_fastest"] = row["trial5_s"] / fastest
    skipped = [b for b in BACKENDS if b not in installed]
    print(f"backends installed: {', '.join(installed)}; not installed: {', '.join(skipped)}")
    print(f"(5-epoch trial {'measured' if args.epochs == TRIAL_EPOCHS else 'extrapolated'})\n")
    columns = [
        "config",
        "backend",
        "mode",
        "first_epoch_s",
        "steady_epoch_s",
        "test_eval_s",
        "trial5_s",
    ]
    per_backend = {
        b: statistics.median(r["trial5_s"] for r in rows if r["backend"] == b) for b in installed
    }
    return show_and_save(
        args.out,
        [*columns, "vs_fastest", "val_accuracy", "test_accuracy"],
        benchmark="backends",
        installed=installed,
        rows=rows,
        median_trial5_s=per_backend,
    )


if __name__ == "__main__":
    sys.exit(main())
