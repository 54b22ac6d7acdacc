"""Training speed: the notebook's code path against ours, per configuration, in the same run.

The notebook path is the notebook's own code: TensorFlow backend, all 25,000 training reviews,
``validation_data`` = the 25,000 test reviews evaluated at batch 32 after every epoch, then
``model.evaluate`` on the test set at batch 32. Ours is the trainer a study trial runs
(``study.training.trainer.train_repeats`` with one seed, as ``study.trials.objective.Objective``
calls it with ``--repeats 1``): the training split, validation on the held-out split at the
objective's even evaluation batch, the default backend (``--backend auto``; under TensorFlow the
trainer runs its epoch-by-epoch ``model.fit`` mode), and the test set evaluated once. Each
(configuration, path) runs in its own process, because Keras reads ``KERAS_BACKEND``
once, at import.

    python benchmarks/training.py                      # 4 configs x 5 epochs x both paths
    python benchmarks/training.py --epochs 2 --configs units8,layers8 --limit-train 2000

With ``--epochs`` below 5 the 5-epoch trial time is extrapolated as
``build + first epoch + 4 x steady epoch + test evaluation`` and marked so in the table.
"""

from __future__ import annotations

import argparse
import json
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
    run_worker,
    show_and_save,
    worker_data,
    write_json,
)
from search_spaces.config import ModelConfig, ModelSpec

#: The notebook configurations the issue names (label, config).
CONFIGS: dict[str, tuple[str, ModelConfig]] = {
    "units8": ("Part 1: LSTM with 8 nodes", ModelConfig(8, 8)),
    "units128": ("Part 1: LSTM with 128 nodes", ModelConfig(128, 8)),
    "dropout0.4": ("Part 3: dropout 0.4, recurrent 0.5", ModelConfig(8, 32, 1, 0.4, 0.5)),
    "layers8": ("Part 4: 8 stacked LSTM layers", ModelConfig(8, 8, 8)),
}
PATHS = ("notebook", "ours")
TRIAL_EPOCHS = 5


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=TRIAL_EPOCHS, help="epochs per run (>= 2)")
    p.add_argument("--configs", default=",".join(CONFIGS), help=f"subset of {','.join(CONFIGS)}")
    p.add_argument("--paths", default=",".join(PATHS), help="notebook, ours or both")
    p.add_argument("--backend", default="auto", help="backend of our path (auto, jax, tensorflow)")
    p.add_argument("--data", default=DEFAULT_DATA, help="aclImdb folder or .tar.gz")
    p.add_argument("--limit-train", type=int, default=None, help="training reviews, quick checks")
    p.add_argument("--limit-test", type=int, default=None, help="test reviews, quick checks")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=default_out("training"))
    p.add_argument("--worker", choices=PATHS, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    check_epochs_and_configs(p, args, CONFIGS)
    for path in args.paths.split(","):
        if path not in PATHS:
            p.error(f"--paths: unknown path {path!r}, choose from {', '.join(PATHS)}")
    return args


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """Trains one configuration along one path in this process; returns its timings."""
    from study.training.backend import select_backend

    backend = "tensorflow" if args.worker == "notebook" else select_backend(args.backend)
    os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np

    from study.training.data import load_dataset

    data = load_dataset(worker_data(args, seed=args.seed))
    import keras

    from study.training.model import build_model

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.seconds.append(time.perf_counter() - self._start)

    _, config = CONFIGS[args.configs]
    if args.worker == "notebook":
        keras.utils.set_random_seed(args.seed)
        timer = EpochTimer()
        start = time.perf_counter()
        # The notebook's cell: Embedding without input length, all training reviews, the test
        # set as validation data at batch 32, then evaluate at batch 32.
        x_train = np.concatenate([data.x_train, data.x_val])
        y_train = np.concatenate([data.y_train, data.y_val])
        model = build_model(ModelSpec(config))
        build_s = time.perf_counter() - start
        history = model.fit(
            x_train,
            y_train,
            batch_size=32,
            epochs=args.epochs,
            validation_data=(data.x_test, data.y_test),
            callbacks=[timer],
            verbose=0,
        )
        val_accuracy = float(history.history["val_accuracy"][-1])
        epoch_s = timer.seconds
        eval_start = time.perf_counter()
        _, test_accuracy = model.evaluate(data.x_test, data.y_test, batch_size=32, verbose=0)
        end = time.perf_counter()
        test_eval_s = end - eval_start
        mode = "notebook model.fit"
    else:
        start = time.perf_counter()
        result = train_one(config, data, args.epochs, args.seed)
        end = time.perf_counter()
        val_accuracy = result.val_accuracy[-1][0]
        test_accuracy = result.test_accuracy[0]
        epoch_s, test_eval_s = result.epoch_seconds, result.test_seconds
        # Building the model (and stacking its state) is what the trainer spends outside epochs.
        build_s = end - start - result.train_seconds - test_eval_s
        mode = f"train_repeats ({result.mode})"
    return {
        "backend": keras.backend.backend(),
        "mode": mode,
        "train_reviews": int(
            len(data.y_train) + (len(data.y_val) if args.worker == "notebook" else 0)
        ),
        "build_s": build_s,
        "epoch_s": epoch_s,
        "test_eval_s": test_eval_s,
        "trial_s": end - start,
        "val_accuracy": val_accuracy,
        "test_accuracy": float(test_accuracy),
    }


def train_one(config: ModelConfig, data: Any, epochs: int, seed: int) -> Any:
    """One trial's training as ``python -m study.optimize`` runs it: ``train_repeats``, one seed.

    The settings are the objective's: batch 32, Adam 1e-3, the largest evaluation batch up to
    1,024 that splits the validation and test sets evenly, the ``keras2`` dropout style.

    Returns:
        The trainer's ``RepeatResult``.
    """
    from study.training.settings import TrainSettings, even_eval_batch_size
    from study.training.trainer import train_repeats

    sizes = (len(data.y_val), len(data.y_test))
    settings = TrainSettings(epochs=epochs, eval_batch_size=even_eval_batch_size(sizes, 1024))
    spec = ModelSpec(config, vocab_size=1000, sequence_length=data.x_train.shape[1])
    return train_repeats(spec, data, settings, [seed])


def summarize(name: str, path: str, raw: dict[str, Any], epochs: int) -> dict[str, Any]:
    """One table row: first and steady epoch, the 5-epoch trial (measured or extrapolated)."""
    first, rest = raw["epoch_s"][0], raw["epoch_s"][1:]
    steady = statistics.median(rest)
    if epochs == TRIAL_EPOCHS:
        trial5, how = raw["trial_s"], "measured"
    else:
        trial5 = raw["build_s"] + first + (TRIAL_EPOCHS - 1) * steady + raw["test_eval_s"]
        how = f"extrapolated from {epochs} epochs"
    return {
        "config": name,
        "path": path,
        "backend": raw["backend"],
        "mode": raw.get("mode"),
        "first_epoch_s": first,
        "steady_epoch_s": steady,
        "test_eval_s": raw["test_eval_s"],
        "trial5_s": trial5,
        "trial5": how,
        "val_accuracy": raw["val_accuracy"],
        "test_accuracy": raw["test_accuracy"],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    configs, paths = args.configs.split(","), args.paths.split(",")
    rows, raw = [], {}
    for name in configs:
        for path in paths:
            cmd = [
                str(Path(__file__).resolve()),
                f"--worker={path}",
                f"--configs={name}",
                f"--epochs={args.epochs}",
                f"--backend={args.backend}",
                f"--data={args.data}",
                f"--seed={args.seed}",
            ]
            cmd += [f"--limit-train={args.limit_train}"] if args.limit_train else []
            cmd += [f"--limit-test={args.limit_test}"] if args.limit_test else []
            print(f"running {name} / {path} ...", file=sys.stderr, flush=True)
            result = run_worker(cmd)
            raw[f"{name}/{path}"] = result
            rows.append(summarize(name, path, result, args.epochs))
            # Kept as it goes: a long run stopped halfway still leaves what it measured.
            write_json(args.out, {"benchmark": "training", "partial": True, "rows": rows})
    ratios = []
    for name in configs:
        by_path = {r["path"]: r for r in rows if r["config"] == name}
        if set(by_path) == set(PATHS):
            speedup = by_path["notebook"]["trial5_s"] / by_path["ours"]["trial5_s"]
            by_path["ours"]["speedup"] = speedup
            ratios.append(speedup)
            by_path["ours"]["test_acc_diff_pp"] = 100 * (
                by_path["ours"]["test_accuracy"] - by_path["notebook"]["test_accuracy"]
            )
    columns = [
        "config",
        "path",
        "backend",
        "mode",
        "first_epoch_s",
        "steady_epoch_s",
        "test_eval_s",
        "trial5_s",
        "trial5",
        "val_accuracy",
        "test_accuracy",
        "speedup",
        "test_acc_diff_pp",
    ]
    median = statistics.median(ratios) if ratios else None
    note = None
    if median is not None:
        note = f"\nmedian speedup per 5-epoch trial (notebook / ours): {median:.1f}x"
    return show_and_save(
        args.out,
        columns,
        note=note,
        benchmark="training",
        argv=sys.argv[1:] if argv is None else argv,
        rows=rows,
        median_speedup=median,
        raw=raw,
    )


if __name__ == "__main__":
    sys.exit(main())
