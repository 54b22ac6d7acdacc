r"""Keras 2 against our Keras 3 model: per-epoch test accuracy of the notebook's dropout models.

Trains each configuration under the notebook's protocol (all 25,000 training reviews, the test
reviews as validation data after every epoch, batch 32, Adam, 5 epochs) with three
implementations, on the same encoded data:

* ``tf_keras``: Keras 2 itself (``import tf_keras``, the notebook's Keras; needs the
  ``[reference]`` extra), TensorFlow;
* ``keras2``: our model with ``--dropout-style keras2`` (the default), JAX;
* ``keras3``: our model with ``--dropout-style keras3`` (Keras 3's LSTM as it is), JAX.

Each run is its own process (tf-keras and Keras 3 cannot share one), seeded with ``--seeds``.
All three train through plain ``model.fit``, the notebook's protocol, as a reference for accuracy:
its ``seconds`` are not the study's trainer (``benchmarks/training.py`` and ``repeats.py`` time
that).
The first table is the accuracy after every epoch, run by run; the second the last epoch's mean
± std per implementation, and whether our mean lies within tf-keras's mean ± 2 std.

    python benchmarks/keras2_reference.py                     # Part 3 x 3 seeds x 3 impls
    python benchmarks/keras2_reference.py --configs 0.4/0.5 --seeds 0 --epochs 1 \\
        --limit-train 2000 --limit-test 2000                  # quick check
    python benchmarks/keras2_reference.py --cell gru          # the same models with GRU(8)

With ``--cell gru`` the recurrent layer is a GRU in all three: tf-keras's ``GRU``, our
``Keras2GRU`` (keras2) and Keras 3's ``GRU`` (keras3), each in Embedding -> GRU -> Dense built
here (the study's ``build_model`` builds LSTMs).
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
    default_out,
    markdown_table,
    run_worker,
    worker_command,
    worker_data,
    write_json,
)

IMPLEMENTATIONS = ("tf_keras", "keras2", "keras3")
#: The notebook's Part 3: LSTM(8) on Embedding(1000, 32), dropout D, recurrent dropout 0.5.
PART3 = "0.4/0.5,0.5/0.5,0.7/0.5"
UNITS, EMBEDDING = 8, 32
CELLS = ("lstm", "gru")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", default=PART3, help="comma-separated DROPOUT/RECURRENT pairs")
    p.add_argument("--impls", default=",".join(IMPLEMENTATIONS), help="subset of the three")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--cell", choices=CELLS, default="lstm", help="the recurrent layer")
    p.add_argument("--data", default=DEFAULT_DATA, help="aclImdb folder or .tar.gz")
    p.add_argument("--limit-train", type=int, default=None, help="training reviews, quick checks")
    p.add_argument("--limit-test", type=int, default=None, help="test reviews, quick checks")
    p.add_argument(
        "--out", type=Path, help="default benchmarks/results/keras2_reference[_gru].json"
    )
    p.add_argument("--worker", choices=IMPLEMENTATIONS, help=argparse.SUPPRESS)
    p.add_argument("--config", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.out is None:  # the GRU's runs never overwrite the LSTM's
        args.out = default_out("keras2_reference" + ("_gru" if args.cell == "gru" else ""))
    for impl in args.impls.split(","):
        if impl not in IMPLEMENTATIONS:
            p.error(f"--impls: unknown {impl!r}, choose from {', '.join(IMPLEMENTATIONS)}")
    for pair in args.configs.split(","):
        try:
            rates = [float(r) for r in pair.split("/")]
        except ValueError:
            rates = []
        if len(rates) != 2 or not all(0 <= r < 1 for r in rates):
            p.error(f"--configs takes DROPOUT/RECURRENT pairs in [0, 1), got {pair!r}")
    return args


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """One implementation, one configuration, one seed, in this process."""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if args.worker != "tf_keras":
        os.environ["KERAS_BACKEND"] = "jax"
    from study.training.data import load_notebook_protocol

    data = load_notebook_protocol(worker_data(args))
    dropout, recurrent = (float(r) for r in args.config.split("/"))
    if args.worker == "tf_keras":
        import tf_keras as keras_impl

        keras_impl.utils.set_random_seed(args.seed)
        model = keras_impl.Sequential(
            [
                keras_impl.layers.Embedding(1000, EMBEDDING),
                getattr(keras_impl.layers, args.cell.upper())(
                    UNITS, dropout=dropout, recurrent_dropout=recurrent
                ),
                keras_impl.layers.Dense(1, activation="sigmoid"),
            ]
        )
        model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    else:
        import keras as keras_impl

        from search_spaces import ModelConfig, ModelSpec
        from study.training.model import build_model

        keras_impl.utils.set_random_seed(args.seed)
        if args.cell == "gru":
            model = gru_model(dropout, recurrent, args.worker)
        else:
            config = ModelConfig(UNITS, EMBEDDING, 1, dropout, recurrent)
            model = build_model(ModelSpec(config, dropout_style=args.worker))
    start = time.perf_counter()
    history = model.fit(
        data.x_train,
        data.y_train,
        batch_size=32,
        epochs=args.epochs,
        validation_data=(data.x_val, data.y_val),
        # Accuracy does not depend on the evaluation batch; 1,000 only makes it faster.
        validation_batch_size=1000,
        verbose=0,
    )
    return {
        "impl": args.worker,
        "cell": args.cell,
        "config": args.config,
        "seed": args.seed,
        "params": int(model.count_params()),
        "test_accuracy": [round(float(a), 5) for a in history.history["val_accuracy"]],
        "seconds": round(time.perf_counter() - start, 1),
    }


def gru_model(dropout: float, recurrent: float, style: str) -> Any:
    """Embedding(1000, 32) -> GRU(8) -> Dense(1, sigmoid) in Keras 3, compiled as the notebook.

    Args:
        dropout: The GRU's input dropout.
        recurrent: Its recurrent dropout.
        style: ``"keras2"`` (our ``Keras2GRU``) or ``"keras3"`` (Keras 3's ``GRU``).
    """
    import keras

    from study.training.keras2_gru import Keras2GRU

    has_dropout = dropout > 0 or recurrent > 0
    gru = Keras2GRU if style == "keras2" and has_dropout else keras.layers.GRU
    model = keras.Sequential(
        [
            keras.Input(shape=(None,), dtype="int32"),
            keras.layers.Embedding(1000, EMBEDDING),
            gru(UNITS, dropout=dropout, recurrent_dropout=recurrent),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def summary(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Last-epoch mean ± std per (configuration, implementation), against tf-keras's spread."""
    rows = []
    for config in dict.fromkeys(r["config"] for r in runs):
        mine = [r for r in runs if r["config"] == config]
        finals = {
            impl: [r["test_accuracy"][-1] for r in mine if r["impl"] == impl]
            for impl in IMPLEMENTATIONS
        }
        ref = finals["tf_keras"]
        ref_mean = statistics.mean(ref) if ref else None
        ref_std = statistics.stdev(ref) if len(ref) > 1 else None
        for impl, values in finals.items():
            if not values:
                continue
            mean = statistics.mean(values)
            std = statistics.stdev(values) if len(values) > 1 else None
            row: dict[str, Any] = {
                "D/R": config,
                "implementation": impl,
                "runs": len(values),
                "mean": mean,
                "std": std,
            }
            if impl != "tf_keras" and ref_mean is not None:
                row["minus tf_keras (pp)"] = round(100 * (mean - ref_mean), 2)
                if ref_std is not None:
                    row["within tf_keras ± 2 std"] = abs(mean - ref_mean) <= 2 * ref_std
            rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    runs: list[dict[str, Any]] = []
    base = [*worker_command(__file__, args), "--cell", args.cell]
    for config in args.configs.split(","):
        for seed in args.seeds.split(","):
            for impl in args.impls.split(","):
                flags = ["--worker", impl, "--config", config, "--seed", seed]
                run = run_worker([*base, *flags])
                runs.append(run)
                epochs = " ".join(f"{a:.3f}" for a in run["test_accuracy"])
                print(f"{impl:8} D/R {config} seed {seed}: {epochs} ({run['seconds']} s)")
                settings = vars(args) | {"out": str(args.out)}
                write_json(args.out, {"settings": settings, "runs": runs})
    per_epoch = [
        {
            "implementation": r["impl"],
            "D/R": r["config"],
            "seed": r["seed"],
            "params": r["params"],
            "after epoch 1 … N": " ".join(f"{a:.3f}" for a in r["test_accuracy"]),
            "train s": r["seconds"],
        }
        for r in runs
    ]
    print()
    print(markdown_table(per_epoch, list(per_epoch[0])))
    rows = summary(runs)
    print()
    print(markdown_table(rows, list(dict.fromkeys(k for row in rows for k in row))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
