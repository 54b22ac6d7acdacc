"""Per-trial cost of Optuna and our bookkeeping, with a no-op training step, per storage.

Each trial does what ``study.trials.objective.Objective`` does around training, minus the training:
TPE samples the real search space, the trial records the same user attributes, the pruning
callback reports (and asks the median pruner) after each of 5 epochs, the CLI's callbacks count
finished trials; the storage is opened with ``storage.open_storage`` (SQLite and PostgreSQL with
their heartbeat). The cost is set beside the training time of one trial from the ``training``
benchmark's JSON (ours, smallest model), or ``--trial-seconds``.

    python benchmarks/overhead.py                       # 100 trials per storage
    python benchmarks/overhead.py --trials 10 --storages sqlite,journal

PostgreSQL: ``--postgres-url`` if given; otherwise the benchmark starts a throw-away server with
the Debian ``postgresql`` binaries (``pg_config --bindir``) when they are installed, and prints
"skipped: no server" when it cannot.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import RESULTS, default_out, show_and_save

STORAGES = ("sqlite", "journal", "postgresql")
EPOCHS = 5


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=100, help="trials per storage")
    p.add_argument(
        "--storages", default=",".join(STORAGES), help="subset of " + ",".join(STORAGES)
    )
    p.add_argument("--postgres-url", default=None, help="use this server instead of starting one")
    p.add_argument(
        "--trial-seconds",
        type=float,
        default=None,
        help="training time of one trial to compare with (default: from training.json)",
    )
    p.add_argument("--out", type=Path, default=default_out("overhead"))
    args = p.parse_args(argv)
    if args.trials < 1:
        p.error(f"--trials must be positive, got {args.trials}")
    for name in args.storages.split(","):
        if name not in STORAGES:
            p.error(f"--storages: unknown storage {name!r}, choose from {', '.join(STORAGES)}")
    return args


def run_study(url: str, n_trials: int) -> tuple[list[float], list[float]]:
    """Runs ``n_trials`` no-op trials the way the CLI runs real ones.

    Returns:
        Wall-clock and CPU seconds (this process, all threads) of each trial. On a shared machine
        the wall clock includes waiting for a core and for the disk; the CPU time does not.
    """
    import optuna
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    from storage import open_storage
    from study.setup.create import open_study
    from study.setup.sampling import make_pruner, make_sampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    finished = (TrialState.COMPLETE, TrialState.PRUNED)
    study, _ = open_study(
        open_storage(url),
        "overhead",
        sampler=make_sampler(0),
        pruner=make_pruner("median", EPOCHS),
        baseline=False,  # TPE samples every trial: its cost grows with the history
        config={"benchmark": "overhead"},
    )
    objective = no_op_objective()
    durations: list[float] = []
    cpu: list[float] = []
    last = [time.perf_counter(), time.process_time()]

    def progress(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        # What the CLI's progress bar asks the storage after every trial.
        study.get_trials(deepcopy=False, states=finished)
        study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        now, now_cpu = time.perf_counter(), time.process_time()
        durations.append(now - last[0])
        cpu.append(now_cpu - last[1])
        last[:] = [now, now_cpu]

    study.optimize(objective, callbacks=[MaxTrialsCallback(n_trials, states=finished), progress])
    return durations, cpu


def no_op_objective() -> Any:
    """The product's ``Objective`` with the training (``train_repeats``) made a no-op.

    Everything else is the real thing: sampling, user attributes, the pruning callback's reports
    and pruner queries after each epoch, ``clear_session`` and ``gc.collect`` after the trial.
    """
    import numpy as np

    from study.training.data import Dataset
    from study.training.settings import TrainSettings
    from study.trials import objective as objective_module

    def train_repeats(config: Any, data: Any, settings: Any, seeds: Any, **kwargs: Any) -> Any:
        result = kwargs["result"]
        result.n_params = 8553
        for epoch in range(settings.epochs):
            # A made-up rising curve, so the median pruner has something to compare.
            result.loss.append([0.5] * len(seeds))
            result.val_accuracy.append([0.7 + 0.02 * epoch] * len(seeds))
            if kwargs["on_epoch"] is not None:
                kwargs["on_epoch"](epoch, result.val_accuracy[-1])
        result.test_accuracy, result.test_loss = [0.8] * len(seeds), [0.4] * len(seeds)
        return result

    objective_module.train_repeats = train_repeats
    empty = np.zeros((2, 80), np.int32)
    labels = np.zeros(2, np.int8)
    data = Dataset(empty, labels, empty, labels, empty, labels, fingerprint="none")
    return objective_module.Objective(
        data,
        TrainSettings(epochs=EPOCHS),
        vocab_size=1000,
        sequence_length=80,
        seed=0,
        pruning=True,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def throwaway_postgres() -> Iterator[str | None]:
    """Starts a private PostgreSQL server as the ``postgres`` user; yields its URL or None."""
    try:
        bindir = Path(
            subprocess.run(
                ["pg_config", "--bindir"], capture_output=True, text=True, check=True
            ).stdout.strip()
        )
    except (OSError, subprocess.CalledProcessError):
        yield None
        return
    if not (bindir / "initdb").exists() or shutil.which("runuser") is None:
        yield None
        return
    root = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    port = _free_port()
    started = False
    try:
        if as_postgres:
            shutil.chown(root, user="postgres")
        quiet: dict[str, Any] = {"capture_output": True, "check": True, "timeout": 120}
        data_dir = str(root / "db")
        initdb = [str(bindir / "initdb"), "-D", data_dir, "-A", "trust", "-U", "postgres"]
        subprocess.run([*as_postgres, *initdb], **quiet)
        options = f"-k {root} -p {port} -c listen_addresses=''"
        log = str(root / "server.log")
        start = [str(bindir / "pg_ctl"), "-D", data_dir, "-w", "-l", log, "-o", options, "start"]
        subprocess.run([*as_postgres, *start], **quiet)
        started = True
        yield f"postgresql+psycopg://postgres@/postgres?host={root}&port={port}"
    except (OSError, subprocess.SubprocessError):
        yield None
    finally:
        if started:
            stop = [str(bindir / "pg_ctl"), "-D", str(root / "db"), "-m", "fast", "stop"]
            subprocess.run([*as_postgres, *stop], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


def trial_seconds(args: argparse.Namespace) -> tuple[float | None, str]:
    """The training time of one trial to compare with, and where it came from."""
    if args.trial_seconds is not None:
        return args.trial_seconds, "--trial-seconds"
    path = RESULTS / "training.json"
    try:
        rows = json.loads(path.read_text())["rows"]
    except (OSError, ValueError, KeyError):
        return None, "no training.json"
    ours = [r["trial5_s"] for r in rows if r["path"] == "ours"]
    return (min(ours), f"fastest 'ours' 5-epoch trial in {path.name}") if ours else (None, "")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("KERAS_BACKEND", "jax")  # the pruning callback imports Keras
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    reference, reference_from = trial_seconds(args)
    rows: list[dict[str, Any]] = []
    raw: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        for name in args.storages.split(","):
            url: str | None
            if name == "sqlite":
                url = f"sqlite:///{tmp}/overhead.db"
            elif name == "journal":
                url = f"journal:{tmp}/overhead.log"
            else:
                url = args.postgres_url
            if name == "postgresql" and url is None:
                with throwaway_postgres() as pg_url:
                    if pg_url is None:
                        print("postgresql: skipped: no server", file=sys.stderr)
                        rows.append({"storage": name, "note": "skipped: no server"})
                        continue
                    durations, cpu = run_study(pg_url, args.trials)
            elif url is not None:
                durations, cpu = run_study(url, args.trials)
            else:
                continue
            raw[name] = durations
            raw[f"{name}_cpu"] = cpu
            mean = statistics.fmean(durations)
            rows.append(
                {
                    "storage": name,
                    "trials": len(durations),
                    "mean_ms": 1000 * mean,
                    "median_ms": 1000 * statistics.median(durations),
                    "last10_mean_ms": 1000 * statistics.fmean(durations[-10:]),
                    "cpu_mean_ms": 1000 * statistics.fmean(cpu),
                    "pct_of_trial": 100 * mean / reference if reference else None,
                    "note": "",
                }
            )
    print(f"reference trial: {reference} s ({reference_from})\n")
    columns = ["storage", "trials", "mean_ms", "median_ms", "last10_mean_ms", "cpu_mean_ms"]
    columns.append("pct_of_trial")
    return show_and_save(
        args.out,
        [*columns, "note"],
        benchmark="overhead",
        trials=args.trials,
        reference_trial_s=reference,
        reference_from=reference_from,
        rows=rows,
        raw=raw,
    )


if __name__ == "__main__":
    sys.exit(main())
