"""``--workers N``: N worker processes on this host against one storage, a GPU each if several.

Each worker is a fresh interpreter (multiprocessing's spawn context: no Keras state is shared)
that re-parses the same command line, loads the (cached) data, opens the storage and runs trials
with its own sampler seed (``study.setup.sampling.sampler_seed``), so the workers propose different
configurations. The parent runs no trials: it watches the storage and shows the progress.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys

import optuna

from storage import open_storage
from study.setup.flags import data_settings
from study.setup.optimize_flags import parse_args, resolve_repeats
from study.setup.sampling import make_pruner, make_sampler
from study.setup.settings import recorded_settings
from study.training.data import load_dataset
from study.workers.ownership import Terminated, exit_code
from study.workers.progress import Progress
from study.workers.run import process_sampler_seed, run_worker, set_up_process
from study.workers.stopping import FINISHED, count_trials


def run_workers(args: argparse.Namespace, argv: list[str], study: optuna.Study) -> int:
    """Runs ``--workers`` processes against the study's storage and shows their progress.

    Args:
        args: The parsed command line.
        argv: The command line as given, which every worker parses again.
        study: The study, for the parent's progress bar.

    Returns:
        The highest exit code of the workers: 0 when the target is reached, 1 when one stopped
        after ``--max-failures``, 128 + the signal for a worker killed by one, 130/143 when this
        process was interrupted (the signal is passed on to the workers).
    """
    ctx = multiprocessing.get_context("spawn")  # fresh interpreters: no Keras state is shared
    gpus = visible_gpus()
    workers = [
        ctx.Process(
            target=_worker_entry,
            args=(argv, gpus[index % len(gpus)] if gpus else None),
            name=f"worker-{index}",
        )
        for index in range(args.workers)
    ]
    for worker in workers:
        worker.start()
    progress = Progress(args.trials, count_trials(study, FINISHED))
    try:
        while any(w.is_alive() for w in workers):
            progress.show(study)
            for worker in workers:
                worker.join(timeout=2 / len(workers))
    except KeyboardInterrupt as exc:
        # Pass the signal on: Ctrl-C in a terminal reaches the workers already (and a second
        # one changes nothing), but a signal sent to this process alone does not.
        forwarded = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
        for worker in workers:
            if worker.pid is not None and worker.is_alive():
                os.kill(worker.pid, forwarded)
        for worker in workers:
            worker.join()
        return exit_code(exc)
    finally:
        progress.show(study)
        progress.close()
    codes = []
    for worker in workers:
        code = worker.exitcode or 0
        if code < 0:  # killed by a signal: multiprocessing reports minus its number
            name = signal.Signals(-code).name
            print(
                f"error: {worker.name} was killed by {name}; its trial stays RUNNING until a "
                "rerun of the same command (or the heartbeat) fails and re-queues it",
                file=sys.stderr,
            )
            code = 128 - code  # the shell's convention; sys.exit(-9) would give 247
        codes.append(code)
    return max(codes)


def visible_gpus() -> list[str]:
    """GPU ids to hand out to workers: ``CUDA_VISIBLE_DEVICES`` if set, else ``nvidia-smi -L``."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [gpu for gpu in listed.split(",") if gpu.strip()]
    if shutil.which("nvidia-smi") is None:
        return []
    result = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False)
    return [str(i) for i, line in enumerate(result.stdout.splitlines()) if line.startswith("GPU")]


def _worker_entry(argv: list[str], gpu: str | None) -> None:
    """A worker process: the same command, seeded apart, on its own GPU when there are several."""
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    args = parse_args(argv)
    set_up_process(args)
    try:
        data = load_dataset(data_settings(args))
        study = optuna.load_study(
            study_name=args.study_name,
            storage=open_storage(args.storage, grace_period=args.heartbeat_grace),
            sampler=make_sampler(process_sampler_seed(args)),
            pruner=make_pruner(args.pruner, args.epochs),
        )
        resolve_repeats(args, recorded_settings(study))  # --repeats auto: the study's
        code = run_worker(args, study, data, show_progress=False)
    except KeyboardInterrupt as exc:
        code = exit_code(exc)
    sys.exit(code)
