"""``python -m study.optimize``: run (or resume) the Optuna study over the notebook's design axes.

This module wires the parts together: arguments (``study.setup.optimize_flags``) -> backend
-> data -> storage -> study (``study.setup``) -> the reference models, once per study
(``study.setup.references``) -> trials, in this process (``study.workers.run``) or in
``--workers`` processes (``study.workers.parallel``) -> the race of the best configurations
(``study.reruns.race``) -> summary (``study.workers.progress``). Keras is imported only
once the backend is chosen and the inputs are known to be good, so ``--help`` and bad input
answer at once.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Sequence

import optuna

from cli import input_error
from storage import StorageError, open_storage, redacted, release, tune_for_writing
from storage.optuna_private import storage_of
from study.setup.create import open_study
from study.setup.flags import data_settings
from study.setup.optimize_flags import (
    parse_args,
    resolve_repeats,
    resolved_settings,
)
from study.setup.references import report_references
from study.setup.sampling import make_pruner, make_sampler
from study.setup.settings import StudySetupError, stored_settings
from study.training.data import DataError, Dataset, load_dataset
from study.trials.directions import DIRECTIONS
from study.workers.ownership import exit_code, fail_stale_trials, recover_dead_trials
from study.workers.parallel import run_workers
from study.workers.progress import print_summary
from study.workers.run import process_sampler_seed, run_worker, set_up_process
from study.workers.stopping import FINISHED, count_trials


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the study; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    backend = set_up_process(args)
    try:
        return _run(args, argv, backend)
    except KeyboardInterrupt as exc:  # before or after the trials: nothing to record
        print(f"interrupted; resume with: {_resume_command(argv)}", file=sys.stderr)
        return exit_code(exc)


def _run(args: argparse.Namespace, argv: list[str], backend: str) -> int:
    try:
        data = load_dataset(data_settings(args))
        storage = open_storage(args.storage, grace_period=args.heartbeat_grace)
        resolve_repeats(args, stored_settings(storage, args.study_name))
        if args.confirm_top:  # refused now, before anything is written, not after the trials
            from study.reruns.confirmation import (  # reads report tables
                check_confirm_study,
                confirm_settings,
            )

            check_confirm_study(
                storage, args.study_name, confirm_settings(args, data, args.study_name, backend)
            )
        study, created = open_study(
            storage,
            args.study_name,
            sampler=make_sampler(process_sampler_seed(args)),
            pruner=make_pruner(args.pruner, args.epochs),
            baseline=not args.no_baseline,
            settings=resolved_settings(args, backend, data),
            directions=DIRECTIONS[args.objectives],
        )
    except (DataError, StorageError, StudySetupError) as exc:
        return input_error(exc)
    tune_for_writing(storage)
    try:
        return _optimize(args, argv, backend, study, data, created)
    finally:
        release(storage)


def _optimize(
    args: argparse.Namespace,
    argv: list[str],
    backend: str,
    study: optuna.Study,
    data: Dataset,
    created: bool,
) -> int:
    recovered = recover_dead_trials(study)
    if recovered:
        print(f"re-queued trial(s) {recovered}: their worker died", file=sys.stderr)
    stale = fail_stale_trials(study)
    if stale:
        print(
            f"re-queued trial(s) {stale}: no heartbeat for {args.heartbeat_grace} s",
            file=sys.stderr,
        )
    finished = count_trials(study, FINISHED)
    print(
        f"{'created' if created else 'resuming'} study {args.study_name!r} in "
        f"{redacted(args.storage)}: "
        f"{finished}/{args.trials} trials finished; data {data.sizes()}; backend {backend}; "
        f"space {args.space}",
        file=sys.stderr,
    )
    # Once per study, before any trial or worker: the non-recurrent line the LSTMs are held to.
    report_references(study, data, data_settings(args))
    # The race reads the trials as report tables (pandas): imported only when it runs.
    from study.reruns.confirmation import confirm_settings, keras_trainer
    from study.reruns.race import RacePlan, run_race

    plan = RacePlan(args.confirm_top, args.confirm_budget, args.confirm_max_seeds)
    if finished >= args.trials:
        # A rerun after an interrupted race goes straight to the rest of it (a finished race
        # replays its runs and trains nothing).
        print(
            f"study already holds {finished} finished trials (target {args.trials}); "
            + ("on to its race" if plan.top else "nothing to do")
        )
        code = 0
    else:
        start = time.perf_counter()
        if args.workers == 1:
            code = run_worker(args, study, data, show_progress=True)
        else:
            code = run_workers(args, argv, study)
        if code == 0:
            print(f"target reached after {time.perf_counter() - start:.0f} s", file=sys.stderr)
        elif code in (130, 143):
            print(
                "interrupted: the running trial was recorded as FAIL; resume with: "
                + _resume_command(argv),
                file=sys.stderr,
            )
            return code
    if code == 0 and plan.top:
        confirming = confirm_settings(args, data, args.study_name, backend)
        start = time.perf_counter()
        code = run_race(study, storage_of(study), confirming, keras_trainer(args, data), plan)
        if code == 0:
            print(f"race over after {time.perf_counter() - start:.0f} s", file=sys.stderr)
        if code in (130, 143):
            print(f"resume with: {_resume_command(argv)}", file=sys.stderr)
            return code
    print_summary(study, args.storage)
    return code


def _resume_command(argv: list[str]) -> str:
    return shlex.join(["python", "-m", "study.optimize", *argv])


if __name__ == "__main__":
    sys.exit(main())
