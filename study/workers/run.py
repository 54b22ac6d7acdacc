"""Trials in this process: set the process up, build the objective, run until the target.

``python -m study.optimize`` runs trials in its own process (``--workers 1``) or in each worker
process it spawns (``study.workers.parallel``); both go through ``set_up_process`` and
``run_worker``.
``study.confirm`` and ``study.reproduce`` build their objective with ``build_objective`` too.
Keras is imported only inside those functions, once the backend has been chosen.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

from search_spaces.lstm import get_space, study_space
from storage import kind_of
from study.setup.sampling import make_pruner, make_sampler, sampler_seed, startup_trials
from study.training.backend import select_backend
from study.training.data import Dataset
from study.trials.directions import AccuracyAndParams, is_multi
from study.workers.ownership import (
    check_interrupt,
    deferred_interrupts,
    exit_code,
    fail_own_running_trials,
    fail_stale_trials,
    install_signal_handlers,
)
from study.workers.progress import Progress
from study.workers.stopping import (
    FINISHED,
    TARGET_STATES,
    CostCapGuard,
    FailureGuard,
    TargetCallback,
    count_trials,
)

if TYPE_CHECKING:
    from study.trials.objective import Objective


def set_up_process(args: argparse.Namespace) -> str:
    """What the main process and every worker do first; returns the backend chosen."""
    backend = select_backend(args.backend, compilation_cache=args.cache_dir / "jax")
    # Optuna logs each failed trial with its traceback; FailureGuard prints one line instead.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    install_signal_handlers()
    return backend


def process_sampler_seed(args: argparse.Namespace, started: int = 0) -> int:
    """This process's TPE seed: apart from every other process's whenever they can coexist.

    Args:
        args: The parsed command line.
        started: How many of the study's trials have started already (any state but WAITING):
            a single process resuming a study seeds its sampler apart from the run that
            proposed those trials (``study.setup.sampling.sampler_seed``).
    """
    concurrent = args.workers > 1 or kind_of(args.storage) != "sqlite"
    return sampler_seed(args.seed, concurrent=concurrent, started=started)


def started_trials(study: optuna.Study) -> int:
    """How many of the study's trials have started: every state but WAITING."""
    return sum(t.state != TrialState.WAITING for t in study.get_trials(deepcopy=False))


def use_process_sampler(args: argparse.Namespace, study: optuna.Study) -> int:
    """Gives the study this process's TPE sampler, seeded for where the study stands now.

    Called just before the process's first trial (``run_worker``), once dead and stale trials
    have been recovered. A fresh study gets the sampler it always had; a single process resuming
    one gets a seed that also depends on how many trials have started, so that TPE's random
    start-up does not propose the interrupted run's first configurations again. Under a cost
    cap, that start-up proposes only configurations under it (``CappedStartup``).

    Returns:
        The sampler's seed, which every trial of this process records as ``sampler_seed``.
    """
    seed = process_sampler_seed(args, started=started_trials(study))
    study.sampler = make_sampler(
        seed,
        startup_trials(study),
        space=study_space(study),
        max_lstm_params=args.max_lstm_params,
    )
    return seed


def build_objective(
    args: argparse.Namespace, data: Dataset, *, seed: int, pruning: bool, **options: Any
) -> Objective:
    """The Optuna objective that trains as the command line's training flags say.

    Imports Keras: call it once the backend is chosen (``select_backend``).

    Args:
        args: A parsed command line with the data and training flags (``study.setup.flags``).
        data: The loaded data.
        seed: The seed each trial's Keras seed is derived from.
        pruning: Whether the pruner may stop a trial after an epoch.
        **options: Further ``Objective`` options (``repeats``, ``record``).
    """
    from study.training.settings import TrainSettings
    from study.trials.objective import Objective  # imports Keras, now with its backend

    return Objective(
        data,
        TrainSettings(
            epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate
        ),
        vocab_size=args.max_features,
        sequence_length=args.maxlen,
        seed=seed,
        pruning=pruning,
        dropout_style=args.dropout_style,
        vectorize=args.repeat_mode == "vectorized",
        space=get_space(getattr(args, "space", "notebook")),
        **options,
    )


def run_worker(
    args: argparse.Namespace, study: optuna.Study, data: Dataset, *, show_progress: bool
) -> int:
    """Runs trials in this process until the study holds ``--trials`` finished ones.

    Finished as ``study.workers.stopping.count_trials`` counts: proposals the cost cap pruned
    untrained do not count.

    Args:
        args: The parsed command line (``study.setup.optimize_flags.parse_args``).
        study: The study, opened with this process's sampler and the pruner.
        data: The loaded data.
        show_progress: Draw the progress bar (the single process does; spawned workers leave
            it to their parent).

    Returns:
        0 when the target is reached, 1 after ``--max-failures`` failures in a row or
        ``CostCapGuard``'s limit of proposals over the cost cap in a row, 130/143 when
        interrupted by SIGINT/SIGTERM.
    """
    from study.trials.objective import trial_errors  # imports Keras, now with its backend

    # A trial counts as running only while its worker lives: fail (and re-queue) the trials whose
    # heartbeat stopped first, or a worker that died on another host would hold the study one
    # trial short of its target for good.
    fail_stale_trials(study)
    seed = use_process_sampler(args, study)
    # The pruner for the space the study recorded (its categorical choices' warm-up).
    study.pruner = make_pruner(args.pruner, args.epochs, study_space(study))
    objective = build_objective(
        args,
        data,
        seed=args.seed,
        pruning=args.pruner != "none",
        repeats=args.repeats,
        max_lstm_params=args.max_lstm_params,
        record={"sampler_seed": seed},
    )
    if count_trials(study, TARGET_STATES) >= args.trials:
        return 0  # the other workers' running trials complete the target
    run_trial: Callable[[optuna.Trial], Any] = objective
    if is_multi(args.objectives):
        run_trial = AccuracyAndParams(objective)
    if args.artifact_dir is not None:
        from study.trials.artifacts import WithHistoryArtifacts

        run_trial = WithHistoryArtifacts(run_trial, args.artifact_dir)
    guard = FailureGuard(args.max_failures)
    cap_guard = CostCapGuard()
    callbacks: list[Any] = [TargetCallback(args.trials), guard, cap_guard]
    progress = Progress(args.trials, count_trials(study, FINISHED)) if show_progress else None
    if progress is not None:
        callbacks.append(progress)
    # Checked after every trial; the objective checks after every batch.
    callbacks.append(lambda study, trial: check_interrupt())
    try:
        with deferred_interrupts():
            study.optimize(run_trial, catch=trial_errors(), callbacks=callbacks)
    except KeyboardInterrupt as exc:
        fail_own_running_trials(study, f"interrupted ({type(exc).__name__})")
        return exit_code(exc)
    finally:
        if progress is not None:
            progress.close()
    if guard.tripped:
        print(
            f"error: {guard.limit} trials failed in a row, stopping (last: {guard.last_reason})",
            file=sys.stderr,
        )
        return 1
    if cap_guard.tripped:
        print(
            f"error: {cap_guard.limit} proposals in a row were over --max-lstm-params "
            f"{args.max_lstm_params}, stopping: raise the cap (0 lifts it)",
            file=sys.stderr,
        )
        return 1
    return 0
