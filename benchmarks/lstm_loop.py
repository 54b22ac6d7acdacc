"""The dropout LSTM's time loop: hand-written backward pass against JAX's, and against a checkout.

A sampled trial of the full study spends most of its time in ``Keras2LSTM``'s per-gate loop
(per-step, per-gate dropout masks). This trains the study's own configurations through the
study's trainer (``study.training.trainer.train_repeats``, one seed, the study's split, batch 32)
with:

* ``hand``: this checkout as it is (under JAX, the loop's backward pass is
  ``study.training.lstm_scan``);
* ``autodiff``: this checkout with JAX differentiating the generic loop instead;
* ``before``: the ``study`` package of another checkout (``--before PATH``, e.g. a
  ``git worktree`` of an older commit), for a before/after in the same run.

Every (configuration, variant) runs in its own process, ``--rounds`` times, alternating, and the
table keeps each one's fastest steady epoch (a shared machine's slow spells only ever add time).

    python benchmarks/lstm_loop.py                                   # 4 configs x 2 variants
    git worktree add /tmp/before 3ab056e
    python benchmarks/lstm_loop.py --before /tmp/before --configs emb98,stack3
    python benchmarks/lstm_loop.py --configs dropout0.4 --limit-train 2000 --rounds 1
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
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
    worker_command,
)
from search_spaces.config import ModelConfig

#: Configurations of the quiet 100-trial study of 2026-11-29 (its trial numbers), and Part 3.
CONFIGS: dict[str, tuple[str, ModelConfig]] = {
    "emb98": ("#82: LSTM(33), embedding 98", ModelConfig(33, 98, 1, 0.03, 0.14)),
    "stack3": ("#33: 3 x LSTM(12), embedding 90", ModelConfig(12, 90, 3, 0.27, 0.02)),
    "stack3x33": ("#17: 3 x LSTM(33), embedding 18", ModelConfig(33, 18, 3, 0.29, 0.12)),
    "dropout0.4": ("Part 3: LSTM(8), embedding 32", ModelConfig(8, 32, 1, 0.4, 0.5)),
}
#: The engine's data, settings and trainer modules, by the file that marks a checkout's layout:
#: ``study/training/`` since issue 17, all in ``study/`` before (what ``--before`` may point at).
ENGINE_LAYOUTS: dict[str, tuple[str, str, str]] = {
    "study/training/trainer.py": (
        "study.training.data", "study.training.settings", "study.training.trainer"
    ),
    "study/vectorized.py": ("study.data", "study.train", "study.vectorized"),
}  # fmt: skip


def engine_modules(root: Path) -> tuple[str, str, str] | None:
    """The engine's (data, settings, trainer) module names in the checkout at ``root``."""
    for marker, modules in ENGINE_LAYOUTS.items():
        if (root / marker).is_file():
            return modules
    return None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", default=",".join(CONFIGS), help=f"subset of {','.join(CONFIGS)}")
    p.add_argument("--before", type=Path, help="another checkout's root, trained as 'before'")
    p.add_argument("--epochs", type=int, default=2, help="epochs per run (>= 2)")
    p.add_argument("--rounds", type=int, default=2, help="runs per (config, variant)")
    p.add_argument("--data", default=DEFAULT_DATA, help="aclImdb folder or .tar.gz")
    p.add_argument("--limit-train", type=int, default=None, help="training reviews, quick checks")
    p.add_argument("--limit-test", type=int, default=None, help="test reviews, quick checks")
    p.add_argument("--out", type=Path, default=default_out("lstm_loop"))
    p.add_argument("--worker", choices=("hand", "autodiff", "before"), help=argparse.SUPPRESS)
    p.add_argument("--config", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    check_epochs_and_configs(p, args, CONFIGS)
    if args.rounds < 1:
        p.error(f"--rounds must be positive, got {args.rounds}")
    if args.before is not None and engine_modules(args.before) is None:
        p.error(f"--before: none of {', '.join(ENGINE_LAYOUTS)} under {args.before}")
    return args


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """One training run of one configuration with one variant of the loop, in this process."""
    os.environ["KERAS_BACKEND"] = "jax"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    root = Path(__file__).resolve().parent.parent
    if args.worker == "before":
        # The other checkout's study package wins the import (search_spaces stays ours).
        root = args.before.resolve()
        sys.path.insert(0, str(root))
    names = engine_modules(root)
    assert names is not None, f"no training engine under {root}"
    data_mod, settings_mod, trainer_mod = (importlib.import_module(n) for n in names)

    if args.worker == "autodiff":
        from study.training.keras2_lstm import Keras2LSTM

        Keras2LSTM._has_hand_written_backward = lambda self: False  # type: ignore[method-assign]
    data = data_mod.load_dataset(
        data_mod.DataSettings(
            source=args.data,
            limit_train=args.limit_train,
            limit_test=args.limit_test,
            seed=0,
            cache_dir=data_mod.default_cache_dir(),
        )
    )  # worker_data(args) as the other checkout's engine spells it
    sizes = (len(data.y_val), len(data.y_test))
    settings = settings_mod.TrainSettings(
        epochs=args.epochs, eval_batch_size=settings_mod.even_eval_batch_size(sizes, 1024)
    )
    marks: list[float] = []
    start = time.perf_counter()
    result = trainer_mod.train_repeats(
        CONFIGS[args.config][1],
        data,
        settings,
        [0],
        vocab_size=1000,
        sequence_length=data.x_train.shape[1],
        on_epoch=lambda epoch, accuracies: marks.append(time.perf_counter()),
    )
    epochs = [b - a for a, b in zip([start, *marks], marks, strict=False)]
    return {"epoch_s": epochs, "val_accuracy": result.val_accuracy[-1][0]}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    base = worker_command(__file__, args)
    base += ["--before", str(args.before)] if args.before else []
    variants = ["hand", "autodiff"] + (["before"] if args.before else [])
    rows: list[dict[str, Any]] = []
    raw: dict[str, Any] = {}
    for name in args.configs.split(","):
        runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
        for round_ in range(args.rounds):
            for variant in variants:
                print(f"{name}: {variant}, round {round_ + 1} ...", file=sys.stderr, flush=True)
                runs[variant].append(run_worker([*base, "--worker", variant, "--config", name]))
        raw[name] = runs
        steady = {v: min(min(r["epoch_s"][1:]) for r in runs[v]) for v in variants}
        row: dict[str, Any] = {"config": name, "what": CONFIGS[name][0]}
        for variant in variants:
            row[f"{variant} steady epoch s"] = steady[variant]
        for variant in variants[1:]:
            row[f"{variant} / hand"] = steady[variant] / steady["hand"]
        for variant in variants:
            row[f"{variant} val acc"] = runs[variant][0]["val_accuracy"]
        rows.append(row)
    settings = {**vars(args), "out": str(args.out), "before": str(args.before)}
    note = (
        f"\nFastest steady epoch of {args.rounds} run(s) each, {args.epochs} epochs, one seed; "
        "'hand' and 'autodiff' draw the same masks, so their accuracies agree to rounding."
    )
    return show_and_save(args.out, list(rows[0]), note=note, settings=settings, rows=rows, raw=raw)


if __name__ == "__main__":
    sys.exit(main())
