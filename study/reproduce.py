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
from pathlib import Path
from typing import Any

import optuna

from cli import add_storage_arguments, check_counts, command_parser, input_error
from reports.render import markdown_table
from reports.reproduction import reproduce_study_name, reproduction_table, verdict
from reports.tables import study_frame
from search_spaces.baseline import BASELINE_GRID
from search_spaces.keys import config_key
from storage import StorageError, open_storage, release, tune_for_writing
from study.reruns.groups import Candidate, enqueue_missing, run_waiting, waiting
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
from study.workers.run import build_objective

#: Added to ``--seed`` for the reproduction's trial seeds, apart from the study's and the
#: confirmation's (``study.reruns.confirmation.SEED_OFFSET``).
SEED_OFFSET = 2000
#: The notebook's parts, as ``--parts`` names them.
PARTS = ("1", "2", "3", "4")
#: What the table's columns are called when printed.
SHOWN_COLUMNS = {
    "heading": "configuration",
    "notebook_params": "notebook params",
    "n_params": "our params",
    "runs": "runs",
    "notebook_test_accuracy": "notebook test acc",
    "test_mean": "our mean",
    "test_std": "our std",
    "diff_pp": "diff (pp)",
    "inside": "notebook inside mean ± 2 std",
}


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


def candidates(parts: Sequence[str] = PARTS) -> list[Candidate]:
    """The notebook's configurations of the given parts (all 14 by default)."""
    return [
        Candidate(config_key(e.config.as_params()), e.config.as_params(), e.label, e.label, None)
        for e in BASELINE_GRID
        if e.part.removeprefix("Part ") in parts
    ]


def printed_table(frame: Any) -> str:
    """The reproduction table as Markdown, with the verdict under it."""
    table = reproduction_table(frame)
    shown = table[list(SHOWN_COLUMNS)].copy()
    for column, digits in (("test_mean", 4), ("test_std", 4), ("diff_pp", 2)):
        shown[column] = [_fixed(v, digits, signed=column == "diff_pp") for v in shown[column]]
    shown = shown.rename(columns=SHOWN_COLUMNS)
    return "\n".join([*markdown_table(shown), "", verdict(table)])


def _fixed(value: float, digits: int, signed: bool = False) -> str:
    if value != value:  # NaN: no runs, or no notebook figure
        return "—"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


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
            settings=_recorded_settings(args, backend, data),
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
            code = _train(study, data, args)
            if code:
                return code
        print(printed_table(study_frame(study)))
        return 0
    finally:
        release(storage)


def _train(study: optuna.Study, data: Any, args: argparse.Namespace) -> int:
    from study.trials.objective import trial_errors  # imports Keras

    objective = build_objective(args, data, seed=args.seed + SEED_OFFSET, pruning=False)
    return run_waiting(study, objective, trial_errors())


def _recorded_settings(args: argparse.Namespace, backend: str, data: Any) -> dict[str, Any]:
    # --repeats and --parts say how much of the reproduction to run, and may grow on a rerun;
    # the storage URL may hold a password. Everything else decides what a run measures.
    unrecorded = ("storage", "repeats", "parts")
    settings = {
        k: (str(v) if isinstance(v, Path) else v)
        for k, v in vars(args).items()
        if k not in unrecorded
    }
    settings.update(
        backend=backend,
        data_fingerprint=data.fingerprint,
        data_sizes=data.sizes(),
        protocol="notebook: all training reviews, validation on the test set",
    )
    return settings


if __name__ == "__main__":
    sys.exit(main())
