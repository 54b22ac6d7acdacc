"""R repeats of one configuration: vectorized (one program) against R sequential runs.

For each configuration and R, the vectorized trainer (``study.vectorized.train_repeats``, JAX)
trains seeds 0..R-1 together in one process; the sequential side is R separate runs of the
single-run path (``study.train.fit``: ``model.fit`` with Keras' own shuffling, one process and one
compilation each, seeds 1000..), and its time for R is the sum of its first R runs. Both train on
the study's split (20,000 training reviews, validation on the 5,000 held out), batch 32.

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
from search_spaces.config import ModelConfig

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
    from study.data import load_dataset
    from study.train import TrainSettings, even_eval_batch_size

    data = load_dataset(worker_data(args))
    seeds = [int(s) for s in args.seeds.split(",")]
    config = CONFIGS[args.config]
    sizes = (len(data.y_val), len(data.y_test))
    settings = TrainSettings(epochs=args.epochs, eval_batch_size=even_eval_batch_size(sizes, 1024))
    marks: list[float] = []
    start = time.perf_counter()
    if args.worker == "vectorized":
        from study.vectorized import train_repeats

        result = train_repeats(
            config,
            data,
            settings,
            seeds,
            vocab_size=1000,
            sequence_length=data.x_train.shape[1],
            on_epoch=lambda epoch, accuracies: marks.append(time.perf_counter()),
        )
        val, test = result.val_accuracy[-1], result.test_accuracy
        mode = result.mode
    else:
        import keras

        from study.model import build_model
        from study.train import EpochRecorder, evaluate, fit

        class Marks(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                marks.append(time.perf_counter())

        keras.utils.set_random_seed(seeds[0])
        model = build_model(config, sequence_length=data.x_train.shape[1])
        recorder = EpochRecorder()
        fit(model, data, settings, recorder, [Marks()])
        val = [recorder.val_accuracy[-1]]
        test = [evaluate(model, data.x_test, data.y_test, settings)[1]]
        mode = "fit"
    end = time.perf_counter()
    epochs = [b - a for a, b in zip([start, *marks], marks, strict=False)]
    return {
        "mode": mode,
        "seeds": seeds,
        "epoch_s": epochs,
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
            print(f"{name}: single run, seed {seed} ...", file=sys.stderr, flush=True)
            flags = ["--worker", "sequential", "--config", name, "--seeds", seed]
            singles.append(run_worker([*base, *flags]))
        raw[f"{name}/sequential"] = singles
        one_run = trial5(singles[0], args.epochs)
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
    print(f"\n5-epoch trial times {how}; one run = the single-run path (model.fit), seed 1000.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
