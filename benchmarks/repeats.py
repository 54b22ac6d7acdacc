"""R repeats of one configuration: vectorized (one program) against R separate single runs.

Every side times the trainer a study runs, ``study.training.trainer.train_repeats`` under JAX,
with the objective's settings (batch 32, the even evaluation batch, ``keras2`` dropout). For each
configuration and R, it trains seeds 0..R-1 together in one process (``--repeats R``); the
sequential side is R separate single runs (one seed each, one process and one compilation each,
seeds 1000.., what ``python -m study.optimize`` runs per trial with ``--repeats 1``), and its time
for R is the sum of its first R runs. "One run" is the median of those single runs. Both train on
the study's split (20,000 training reviews, validation on the 5,000 held out).

Where the time goes: each worker also records, per epoch, the seconds spent in the compiled
training calls (the ``lax.scan`` chunks, up to the last chunk's return) and the rest of the epoch
(the remainder batch and the validation pass), so R = 4 against R = 1 can be split into the
training loop and evaluation.

Times are for a 5-epoch trial: measured with ``--epochs 5``, else extrapolated as ``start to the
end of epoch 1 (build, compile, first epoch) + 4 x steady epoch + test evaluation``. The
accuracies (last epoch run) of the two sides come from different seeds: two independent samples
of the same distribution, compared by their means within two standard errors.

    python benchmarks/repeats.py                        # 4 configs x R in 1,2,4,8, 2 epochs
    python benchmarks/repeats.py --configs units8 --repeats 1,4 --epochs 2 --limit-train 2000
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (
    DEFAULT_DATA,
    check_epochs_and_configs,
    default_out,
    markdown_table,
    run_worker,
    worker_command,
    worker_data,
    write_json,
)
from search_spaces.config import ModelConfig, ModelSpec

CONFIGS: dict[str, ModelConfig] = {
    "units8": ModelConfig(8, 8),
    "units128": ModelConfig(128, 8),
    "dropout0.4": ModelConfig(8, 32, 1, 0.4, 0.5),
    "layers8": ModelConfig(8, 8, 8),
}
TRIAL_EPOCHS = 5
SEQUENTIAL_SEEDS = 1000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", default=",".join(CONFIGS), help=f"subset of {','.join(CONFIGS)}")
    p.add_argument("--repeats", default="1,2,4,8", help="comma-separated R values")
    p.add_argument("--epochs", type=int, default=2, help="epochs per run (>= 2)")
    p.add_argument("--data", default=DEFAULT_DATA, help="aclImdb folder or .tar.gz")
    p.add_argument("--limit-train", type=int, default=None, help="training reviews, quick checks")
    p.add_argument("--limit-test", type=int, default=None, help="test reviews, quick checks")
    p.add_argument("--out", type=Path, default=default_out("repeats"))
    p.add_argument("--worker", choices=("vectorized", "sequential"), help=argparse.SUPPRESS)
    p.add_argument("--config", help=argparse.SUPPRESS)
    p.add_argument("--seeds", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    check_epochs_and_configs(p, args, CONFIGS)
    try:
        args.repeats = sorted({int(r) for r in args.repeats.split(",")})
    except ValueError:
        p.error(f"--repeats takes comma-separated integers, got {args.repeats!r}")
    if args.repeats[0] < 1:
        p.error(f"--repeats must be positive, got {args.repeats[0]}")
    return args


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """One vectorized training of several seeds, or one single run, in this process."""
    os.environ["KERAS_BACKEND"] = "jax"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from study.training.data import load_dataset
    from study.training.settings import TrainSettings, even_eval_batch_size

    data = load_dataset(worker_data(args))
    seeds = [int(s) for s in args.seeds.split(",")]
    config = CONFIGS[args.config]
    sizes = (len(data.y_val), len(data.y_test))
    settings = TrainSettings(epochs=args.epochs, eval_batch_size=even_eval_batch_size(sizes, 1024))
    marks: list[float] = []
    steps: list[float] = []
    train_marks: list[float] = []

    def on_epoch(epoch: int, accuracies: list[float]) -> None:
        marks.append(time.perf_counter())
        train_marks.append(steps[-1] if steps else marks[-1])

    start = time.perf_counter()
    from study.training.trainer import train_repeats

    result = train_repeats(
        ModelSpec(config, vocab_size=1000, sequence_length=data.x_train.shape[1]),
        data,
        settings,
        seeds,
        on_epoch=on_epoch,
        on_step=lambda: steps.append(time.perf_counter()),
    )
    val, test, mode = result.val_accuracy[-1], result.test_accuracy, result.mode
    end = time.perf_counter()
    epochs = [b - a for a, b in zip([start, *marks], marks, strict=False)]
    return {
        "mode": mode,
        "seeds": seeds,
        "epoch_s": epochs,
        # Per epoch: up to the last compiled training call, then remainder batch + validation.
        "train_calls_s": [t - a for a, t in zip([start, *marks], train_marks, strict=False)],
        "after_calls_s": [b - t for t, b in zip(train_marks, marks, strict=True)],
        "test_eval_s": end - marks[-1],
        "total_s": end - start,
        "val_accuracy": val,
        "test_accuracy": test,
    }


def trial5(raw: dict[str, Any], epochs: int) -> float:
    """Seconds of a 5-epoch trial: measured, or extrapolated from the epochs run."""
    if epochs == TRIAL_EPOCHS:
        return float(raw["total_s"])
    first, steady = raw["epoch_s"][0], statistics.median(raw["epoch_s"][1:])
    return float(first + (TRIAL_EPOCHS - 1) * steady + raw["test_eval_s"])


def _steady(values: list[float]) -> float:
    """The median of the epochs after the first (which compiles), or the first alone."""
    return float(statistics.median(values[1:] or values))


def mean_std(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def within_two_se(a: list[float], b: list[float]) -> bool | None:
    """Whether the means of two samples differ by less than two standard errors."""
    if len(a) < 2 or len(b) < 2:
        return None
    se = math.sqrt(statistics.variance(a) / len(a) + statistics.variance(b) / len(b))
    return abs(statistics.mean(a) - statistics.mean(b)) <= 2 * se


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    base = worker_command(__file__, args)
    rows: list[dict[str, Any]] = []
    raw: dict[str, Any] = {}
    for name in args.configs.split(","):
        singles = []
        for i in range(max(args.repeats)):
            seed = str(SEQUENTIAL_SEEDS + i)
            print(f"{name}: one run (R = 1), seed {seed} ...", file=sys.stderr, flush=True)
            flags = ["--worker", "sequential", "--config", name, "--seeds", seed]
            singles.append(run_worker([*base, *flags]))
        raw[f"{name}/sequential"] = singles
        # The median single run: on a shared machine one run's compile time alone varies 2x.
        one_run = statistics.median(trial5(run, args.epochs) for run in singles)
        for r in args.repeats:
            print(f"{name}: vectorized, R={r} ...", file=sys.stderr, flush=True)
            seeds = ",".join(str(s) for s in range(r))
            vec = run_worker([*base, "--worker", "vectorized", "--config", name, "--seeds", seeds])
            raw[f"{name}/vectorized/{r}"] = vec
            seq_val = [v for run in singles[:r] for v in run["val_accuracy"]]
            vec_s = trial5(vec, args.epochs)
            seq_s = sum(trial5(run, args.epochs) for run in singles[:r])
            rows.append(
                {
                    "config": name,
                    "R": r,
                    "vectorized s": vec_s,
                    "sequential s": seq_s,
                    "vectorized / one run": vec_s / one_run,
                    "steady epoch: train calls s": _steady(vec["train_calls_s"]),
                    "steady epoch: rest + validation s": _steady(vec["after_calls_s"]),
                    "sequential / vectorized": seq_s / vec_s,
                    "val acc vectorized": mean_std(vec["val_accuracy"]),
                    "val acc sequential": mean_std(seq_val),
                    "means within 2 SE": within_two_se(vec["val_accuracy"], seq_val),
                    "mode": vec["mode"],
                }
            )
            settings = {**vars(args), "out": str(args.out)}
            write_json(args.out, {"settings": settings, "rows": rows, "raw": raw})
    print(markdown_table(rows, list(rows[0])))
    how = "measured" if args.epochs == TRIAL_EPOCHS else f"extrapolated from {args.epochs} epochs"
    print(
        f"\n5-epoch trial times {how}; one run = the median of the single runs (the"
        f" product's trainer, train_repeats, with one seed each, seeds {SEQUENTIAL_SEEDS}..)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
