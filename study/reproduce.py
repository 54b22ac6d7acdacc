"""``python -m study.reproduce``: the notebook's 14 configurations under its own protocol, R times.

The notebook trained each configuration once on all 25,000 training reviews, with the 25,000
test reviews as ``validation_data`` (5 epochs, batch 32, Adam) and printed the last epoch's test
accuracy. This command does the same, ``--repeats`` times per configuration with other seeds,
into the study ``<NAME>-reproduce`` of the given storage, and prints the notebook's figures
beside our mean ± std. Because the protocol watches the test set, its figures reproduce the
notebook; they never choose between configurations (``study.optimize`` does that on a
validation split).

Rerunning the same command resumes it (each (configuration, repeat) is enqueued once); a larger
``--repeats`` extends it. A stored reproduction refuses other result-changing settings.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import optuna

from cli import add_storage_arguments, check_counts, command_parser, input_error
from reports.reproduction import reproduce_study_name
from reports.tables import study_frame
from storage import StorageError, open_storage, release, tune_for_writing
from study.reruns.groups import enqueue_missing, waiting
from study.reruns.reproduction import PARTS, candidates, printed_table, recorded_settings, train
from study.setup.create import open_study
from study.setup.flags import (
    add_data_arguments,
    add_training_arguments,
    check_learning_rate,
    data_settings,
)
from study.setup.sampling import make_sampler
from study.setup.settings import StudySetupError
from study.training.backend import select_backend
from study.training.data import DataError, load_notebook_protocol
from study.trials.directions import name_metrics
from study.workers.ownership import exit_code


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m study.reproduce``."""
    p = command_parser(
        "python -m study.reproduce",
        "Train the notebook's 14 configurations under its own protocol (all "
        "training reviews, validation on the test set, 5 epochs, batch 32) --repeats times "
        "each, into the study <NAME>-reproduce, and print the notebook's figures beside ours. "
        "Rerunning resumes.",
    )
    add_storage_arguments(p, study_help="the reproduction is stored as the study <NAME>-reproduce")
    p.add_argument("--repeats", type=int, default=3, help="runs per configuration")
    p.add_argument(
        "--parts",
        default=",".join(PARTS),
        help="comma-separated notebook parts to reproduce (1: units, 2: embedding size, "
        "3: dropout, 4: layers)",
    )
    p.add_argument("--seed", type=int, default=0, help="seeds every run's Keras seed")
    add_data_arguments(p, val_split=False)
    add_training_arguments(p)
    return p


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parses and validates the command line; exits 2 with one line on bad input."""
    parser = build_parser()
    args = parser.parse_args(argv)
    check_counts(parser, args, ("repeats", "epochs", "batch_size", "max_features", "maxlen"))
    check_learning_rate(parser, args)
    parts = [part.strip() for part in args.parts.split(",") if part.strip()]
    if not parts or any(part not in PARTS for part in parts):
        parser.error(
            f"--parts takes a comma-separated subset of {','.join(PARTS)}, got {args.parts!r}"
        )
    args.parts = sorted(set(parts))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Runs (or resumes) the reproduction; returns the process exit code."""
    args = parse_args(argv)
    backend = select_backend(args.backend, compilation_cache=args.cache_dir / "jax")
    # Optuna logs every failed trial with its traceback; run_waiting prints one line instead.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        return _run(args, backend)
    except KeyboardInterrupt as exc:  # before or after the trainings: nothing to record
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return exit_code(exc)


def _run(args: argparse.Namespace, backend: str) -> int:
    name = reproduce_study_name(args.study_name)
    try:
        data = load_notebook_protocol(data_settings(args))
        storage = open_storage(args.storage)
        study, created = open_study(
            storage,
            name,
            sampler=make_sampler(args.seed),
            pruner=optuna.pruners.NopPruner(),
            baseline=False,
            settings=recorded_settings(args, backend, data),
        )
    except (DataError, StorageError, StudySetupError) as exc:
        return input_error(exc)
    tune_for_writing(storage)
    # Under the notebook's protocol the validation data is the test set: say so on the dashboard.
    name_metrics(study, ("test_accuracy",))
    try:
        wanted = candidates(args.parts)
        added = enqueue_missing(study, wanted, args.repeats)
        todo = waiting(study)
        print(
            f"{'created' if created else 'resuming'} study {name!r}: {len(wanted)} "
            f"configurations x {args.repeats} repeats under the notebook's protocol; "
            f"{added} newly enqueued, {todo} to run; data {data.sizes()} (validation = test); "
            f"backend {backend}",
            file=sys.stderr,
        )
        if todo:
            code = train(study, data, args)
            if code:
                return code
        print(printed_table(study_frame(study)))
        return 0
    finally:
        release(storage)


if __name__ == "__main__":
    sys.exit(main())
