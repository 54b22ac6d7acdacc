"""``python -m study.confirm``: re-train the best and the notebook's configurations R times.

This command re-trains the study's top-K configurations and the notebook's 14 with other seeds
(``study.reruns.confirmation``), or with ``--race`` races the top K as ``python -m
study.optimize`` ends (``study.reruns.race``), into the study ``<NAME>-confirm`` in the same
storage; ``python -m reports`` then shows mean ± std and says
which differences exceed the seed-to-seed spread. Data and training settings default to those
the study recorded. Rerunning resumes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import optuna
from optuna.trial import TrialState

from cli import add_storage_arguments, command_parser, input_error
from reports.load import ReportInputError, confirm_study_name, load_study_readonly
from reports.repeats import confirmed_text, current_confirmed
from reports.tables import study_frame
from storage import StorageError, open_storage, tune_for_writing
from storage.optuna_private import storage_of
from study.reruns.confirmation import (
    FLAGS,
    Plan,
    candidates,
    check_confirm_study,
    check_trained_as_study,
    confirm_settings,
    keras_trainer,
    run_confirmation,
    settings_argv,
)
from study.reruns.race import RacePlan, run_race
from study.setup import optimize_flags
from study.setup.flags import data_settings
from study.setup.optimize_flags import check_race
from study.setup.settings import StudySetupError, recorded_settings
from study.training.backend import select_backend
from study.training.data import DataError, load_dataset


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m study.confirm`` (data flags are study.optimize's)."""
    p = command_parser(
        "python -m study.confirm",
        "Re-train the top-K configurations of a study and the notebook's 14 "
        "R times with other seeds, into the study <NAME>-confirm. Data and training flags "
        "(--data, --limit-train, --epochs, ...) are those of study.optimize and default to "
        "what the study recorded. Rerunning resumes.",
    )
    add_storage_arguments(p, study_help="the study to confirm")
    p.add_argument(
        "--top",
        type=int,
        default=None,
        help="best distinct configurations to repeat (default: 3; with --race, 5)",
    )
    p.add_argument("--repeats", type=int, default=None, help="runs per configuration (default: 3)")
    p.add_argument(
        "--no-baseline", action="store_true", help="repeat only the top-K, not the notebook's 14"
    )
    r = p.add_argument_group("a race instead (what study.optimize ends with)")
    r.add_argument(
        "--race",
        action="store_true",
        help="race the top K on shared new seeds in rounds (2, 4, 8, ... seeds), dropping each "
        "one worse than the leader beyond the seed noise, instead of repeating each R times; "
        "the notebook's 14 do not race",
    )
    r.add_argument(
        "--budget",
        type=float,
        default=0.15,
        help="the race's training time, at most, as a share of the study's trials'",
    )
    r.add_argument(
        "--max-seeds", type=int, default=16, help="the most seeds a configuration of the race gets"
    )
    return p


def parse_args(argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    """Own flags, and the remaining (data / training) flags for study.optimize's parser.

    Exits 2 with one line on bad input.
    """
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.race and (args.repeats is not None or args.no_baseline):
        flag = "--repeats" if args.repeats is not None else "--no-baseline"
        parser.error(
            f"{flag} is the fixed confirmation's: a race gives its configurations seeds in "
            "rounds up to --max-seeds, and the notebook's 14 do not race"
        )
    if args.top is None:
        args.top = 5 if args.race else 3
    if args.repeats is None:
        args.repeats = 3
    if args.top < 0:
        parser.error(f"--top must be 0 or more, got {args.top}")
    if args.repeats < 1:
        parser.error(f"--repeats must be positive, got {args.repeats}")
    if args.race:
        check_race(parser, args.budget, args.max_seeds, "--")
    # The space is the study's: its trials' params decide which configurations exist.
    allowed = {f"--{f.replace('_', '-')}" for f in (*FLAGS, "cache_dir") if f != "space"}
    for token in rest:
        if token.startswith("-") and token.split("=", 1)[0] not in allowed:
            parser.error(
                f"unrecognized argument {token!r}: besides its own flags, study.confirm takes "
                "study.optimize's data and training flags"
            )
    return args, rest


def main(argv: Sequence[str] | None = None) -> int:
    """Runs (or resumes) the confirmation; returns the process exit code."""
    args, rest = parse_args(argv)
    # Optuna logs every failed trial with its traceback; run_waiting prints one line instead.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        study = load_study_readonly(args.storage, args.study_name)
    except ReportInputError as exc:
        return input_error(exc)
    recorded = recorded_settings(study)
    settings = optimize_flags.parse_args(settings_argv(recorded, rest))
    plan = Plan(args.top, args.repeats, baseline=not args.no_baseline and not args.race)
    if not candidates(study, plan.top, plan.baseline):
        print(
            f"error: study {args.study_name!r} has no complete trial to confirm", file=sys.stderr
        )
        return 2
    backend = select_backend(settings.backend, compilation_cache=settings.cache_dir / "jax")
    try:
        data = load_dataset(data_settings(settings))
        confirming = confirm_settings(settings, data, args.study_name, backend)
        check_confirm_study(storage_of(study), args.study_name, confirming)
        check_trained_as_study(study, confirming)
        storage = open_storage(args.storage)  # with heartbeat: this process writes trials
        tune_for_writing(storage)
    except (DataError, StorageError, StudySetupError) as exc:
        return input_error(exc)
    trainer = keras_trainer(settings, data)
    if args.race:
        race = RacePlan(args.top, args.budget, args.max_seeds)
        code = run_race(study, storage, confirming, trainer, race)
    else:
        code = run_confirmation(study, storage, confirming, trainer, plan)
    if code:
        return code
    name = confirm_study_name(args.study_name)
    confirm = optuna.load_study(storage=storage, study_name=name)
    done = len(confirm.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    record = current_confirmed(
        study.user_attrs.get("confirmed_best"), study_frame(study), study_frame(confirm)
    )
    if record is not None:
        print(confirmed_text(record))
    print(
        f"{name}: {done} complete runs; report them with "
        f"python -m reports --storage {args.storage} --study-name {args.study_name}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
