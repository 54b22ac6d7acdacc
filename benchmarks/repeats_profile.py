r"""Where R seeds' extra time goes: one compiled training call and one validation pass, R = 1 vs R.

Builds the product trainer's program (``study.training.trainer._Vectorized``, what
``train_repeats`` runs under JAX) for each configuration and R, compiles it, then times, after
compiling, the fastest of ``--rounds`` calls of each part:

* ``train call``: one ``lax.scan`` of 64 training steps (forward, the hand-written or JAX
  backward pass, Adam; with dropout, every replica's per-step masks are drawn inside it);
* ``validation``: one pass over the validation set at the even evaluation batch;

and reports them per step / per pass with their ratio to R = 1. The compile time of the training
call is timed too (first call minus the fastest). Nothing is trained to the end: figures are the
loop's steady cost, which is what a 5-epoch trial spends most of its time in.

``--unroll 1,2,4,8,16,80`` repeats every row once per scan unroll (``RNN_SCAN_UNROLL`` in the
worker, ``study/training/unroll.py``), its ratios against the first unroll of the same
configuration and R: the sweep that sets ``DEFAULT_UNROLL``. Only our own loop (``lstm_scan``,
configurations with recurrent dropout) reads it; Keras' loop does not.

    python benchmarks/repeats_profile.py                       # units8, dropout0.4; R = 1, 4
    python benchmarks/repeats_profile.py --configs units8 --repeats 1,2 --rounds 2 \
        --limit-train 900
    python benchmarks/repeats_profile.py --configs dropout0.4 --repeats 1 --rounds 3 \
        --limit-train 900 --unroll 1,2,4,8,16,80
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import DEFAULT_DATA, default_out, run_worker, show_and_save, worker_data
from benchmarks.repeats import CONFIGS
from study.training.unroll import ENV


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", default="units8,dropout0.4", help=f"of {','.join(CONFIGS)}")
    p.add_argument("--repeats", default="1,4", help="comma-separated R values (first: baseline)")
    p.add_argument("--rounds", type=int, default=5, help="timed calls per part (fastest kept)")
    p.add_argument("--data", default=DEFAULT_DATA, help="aclImdb folder or .tar.gz")
    p.add_argument("--limit-train", type=int, default=None, help="training reviews")
    p.add_argument("--limit-test", type=int, default=None, help="test reviews")
    p.add_argument("--unroll", default=None, help="comma-separated scan unrolls to sweep")
    p.add_argument("--out", type=Path, default=default_out("repeats_profile"))
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for name in args.configs.split(","):
        if name not in CONFIGS:
            p.error(f"--configs: unknown config {name!r}, choose from {', '.join(CONFIGS)}")
    try:
        args.repeats = [int(r) for r in args.repeats.split(",")]
    except ValueError:
        p.error(f"--repeats takes comma-separated integers, got {args.repeats!r}")
    if min(args.repeats) < 1 or args.rounds < 1:
        p.error(f"--repeats and --rounds must be positive, got {args.repeats}, {args.rounds}")
    if args.unroll is not None:
        try:
            args.unroll = [int(u) for u in args.unroll.split(",")]
        except ValueError:
            p.error(f"--unroll takes comma-separated integers, got {args.unroll!r}")
        if min(args.unroll) < 1:
            p.error(f"--unroll must be positive, got {args.unroll}")
    return args


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """Times one configuration at one R (``--configs`` and ``--repeats`` hold one value each)."""
    os.environ["KERAS_BACKEND"] = "jax"
    import jax
    import numpy as np

    from search_spaces import ModelSpec
    from study.training.data import load_dataset
    from study.training.settings import TrainSettings, even_eval_batch_size
    from study.training.trainer import MAX_STEPS_PER_CALL, _seeded_model, _Vectorized

    data = load_dataset(worker_data(args))
    r = args.repeats[0]
    sizes = (len(data.y_val), len(data.y_test))
    settings = TrainSettings(epochs=1, eval_batch_size=even_eval_batch_size(sizes, 1024))
    spec = ModelSpec(CONFIGS[args.configs], vocab_size=1000, sequence_length=data.x_train.shape[1])
    build = functools.partial(_seeded_model, spec)
    program = _Vectorized(build, data, settings, list(range(r)), True)
    batch, steps = settings.batch_size, MAX_STEPS_PER_CALL
    rng = np.random.default_rng(0)
    index = rng.integers(0, len(data.y_train), size=(steps, r, batch))
    active = np.ones(steps, dtype=bool)

    def train_call() -> None:
        program.state, loss = program._chunk(
            program.state, program.x_train, program.y_train, index, active
        )
        jax.block_until_ready(loss)

    def validation() -> None:
        program.accuracy(data.x_val, data.y_val)

    timings: dict[str, Any] = {}
    for name, part in (("train_call", train_call), ("validation", validation)):
        first = time.perf_counter()
        part()
        first_s = time.perf_counter() - first
        best = float("inf")
        for _ in range(args.rounds):
            start = time.perf_counter()
            part()
            best = min(best, time.perf_counter() - start)
        timings[name] = best
        timings[f"{name}_compile"] = max(first_s - best, 0.0)
    return {"steps_per_call": steps, "validation_reviews": len(data.y_val), **timings}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)))
        return 0
    rows: list[dict[str, Any]] = []
    for name in args.configs.split(","):
        for unroll in args.unroll or [None]:
            rows += _rows(args, name, unroll)
    if args.unroll:
        first: dict[tuple[str, int], float] = {}
        for row in rows:
            first.setdefault((row["config"], row["R"]), row["train step ms"])
        for row in rows:
            key = (row["config"], row["R"])
            row["train step / first unroll"] = row["train step ms"] / first[key]
    return show_and_save(
        args.out,
        list(rows[0]),
        benchmark="repeats_profile",
        settings=vars(args) | {"out": str(args.out)},
        rows=rows,
    )


def _rows(args: argparse.Namespace, name: str, unroll: int | None) -> list[dict[str, Any]]:
    """One configuration's rows at one scan unroll (None: the device's default)."""
    rows: list[dict[str, Any]] = []
    base: dict[str, Any] | None = None
    env = {} if unroll is None else {ENV: str(unroll)}
    for r in args.repeats:
        command = [str(Path(__file__).resolve()), "--worker", "--configs", name]
        command += ["--repeats", str(r), "--rounds", str(args.rounds), "--data", args.data]
        command += ["--limit-train", str(args.limit_train)] if args.limit_train else []
        command += ["--limit-test", str(args.limit_test)] if args.limit_test else []
        print(f"{name}: R = {r}, unroll {unroll or 'default'} ...", file=sys.stderr, flush=True)
        raw = run_worker(command, env)
        base = base or raw
        rows.append(
            {
                "config": name,
                "R": r,
                **({} if unroll is None else {"unroll": unroll}),
                "train step ms": 1000 * raw["train_call"] / raw["steps_per_call"],
                "train step / R=1": raw["train_call"] / base["train_call"],
                "validation s": raw["validation"],
                "validation / R=1": raw["validation"] / base["validation"],
                "compile train call s": raw["train_call_compile"],
            }
        )
    return rows


if __name__ == "__main__":
    sys.exit(main())
