"""The sampler and the pruner of a study: TPE with its start-up and seed, the epoch pruner.

No Keras here.
"""

from __future__ import annotations

import optuna

from search_spaces.lstm import NOTEBOOK, SearchSpace, study_space
from study.setup.capped_startup import CappedStartup
from study.setup.choice_warmup import CHOICE_AXES, WarmupHyperbandPruner, WarmupMedianPruner
from study.training.seeds import derive_seed
from study.workers.ownership import owner_id

PRUNERS = ("median", "hyperband", "none")
#: TPE's random proposals before it models the study: Optuna's default.
STARTUP_TRIALS = 10
#: Random proposals the extended space gets after the notebook's grid (about two per parameter).
EXTENDED_STARTUP_TRIALS = 20


def startup_trials(study: optuna.Study) -> int:
    """How many finished trials TPE waits for before it models the study (``n_startup_trials``).

    TPE counts every finished trial, the enqueued notebook grid included. In the notebook space
    the grid's 14 spread over its axes and take the place of Optuna's random start-up; in the
    extended space they all sit at one value of each new axis, and TPE fed only those keeps
    proposing it, so the random start-up comes after the grid: ``EXTENDED_STARTUP_TRIALS`` more
    (docs/running.md, "TPE's start-up in the extended space").
    """
    if study_space(study) is NOTEBOOK:
        return STARTUP_TRIALS
    trials = study.get_trials(deepcopy=False)
    grid = {t.user_attrs["baseline"] for t in trials if "baseline" in t.user_attrs}
    return len(grid) + EXTENDED_STARTUP_TRIALS


def make_sampler(
    seed: int,
    n_startup_trials: int = STARTUP_TRIALS,
    *,
    space: SearchSpace | None = None,
    max_lstm_params: int = 0,
) -> optuna.samplers.BaseSampler:
    """TPE with the given seed (``sampler_seed``), and the constant liar on.

    With ``constant_liar`` TPE counts every RUNNING trial as a poor result while it proposes, so
    workers running at once do not all propose around the same promising point; with one
    process the only running trial is the one being proposed, and nothing changes.
    ``n_startup_trials``: random proposals until the study holds that many finished trials
    (``startup_trials``). Given the study's ``space`` and a cost cap (``max_lstm_params`` > 0),
    those random proposals all fit under the cap (``CappedStartup``); without, TPE as it is.
    """
    tpe = optuna.samplers.TPESampler(
        seed=seed, constant_liar=True, n_startup_trials=n_startup_trials
    )
    if space is None or max_lstm_params <= 0:
        return tpe
    return CappedStartup(
        tpe,
        space=space,
        max_lstm_params=max_lstm_params,
        n_startup_trials=n_startup_trials,
        seed=seed,
    )


def sampler_seed(seed: int, *, concurrent: bool, started: int = 0) -> int:
    """The TPE seed of this process, derived from ``--seed`` (any integer).

    Args:
        seed: The study's ``--seed``.
        concurrent: Whether other processes may run trials of the study at the same time
            (``--workers N``, a journal file, PostgreSQL). Then the seed also depends on this
            process's identity (host, boot id, PID namespace, pid and start time:
            ``study.workers.ownership.owner_id``), so that the same command on every host, or a
            second command beside the first, does not propose the same configurations. Alone
            (SQLite, one worker), the same command proposes the same trials.
        started: How many of the study's trials had started when this process took it over.
            Alone, a process resuming a study (``started`` > 0) hashes it in too: TPE draws its
            random start-up proposals from its own generator, and the same seed again would
            propose the interrupted run's first configurations once more. A fresh study
            (``started`` 0) keeps the seed it always had, and the same command history still
            gives the same trials.

    Returns:
        A seed in ``[0, 2**31)``; every trial records the seed of the sampler that proposed it
        (``sampler_seed``).
    """
    if not concurrent:
        if started:
            return derive_seed("sampler", seed, "resumed", started)
        return derive_seed("sampler", seed)
    return derive_seed("sampler", seed, owner_id())


def make_pruner(
    name: str, epochs: int, space: SearchSpace = NOTEBOOK
) -> optuna.pruners.BasePruner:
    """The pruner named on the command line; steps are epochs (0-based).

    In a space with categorical choices (the extended one), the median and Hyperband pruners
    hold back until each of a trial's choices has its warm-up of complete trials
    (``study.setup.choice_warmup``); the notebook space's are Optuna's own, as they were.
    """
    warmup = any(axis in space.distributions for axis in CHOICE_AXES)
    if name == "median":
        median = WarmupMedianPruner if warmup else optuna.pruners.MedianPruner
        return median(n_startup_trials=5, n_warmup_steps=0)
    if name == "hyperband":
        hyperband = WarmupHyperbandPruner if warmup else optuna.pruners.HyperbandPruner
        return hyperband(min_resource=1, max_resource=epochs)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"--pruner must be one of {', '.join(PRUNERS)}, got {name!r}")
