"""The command line of ``python -m study.optimize``: its flags, their checks, what a run records.

Every worker process of ``--workers N`` re-parses the command it was started with, and
``study.confirm`` parses its data and training settings with this parser too. No Keras here.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cli import DEFAULT_STORAGE, DEFAULT_STUDY, check_counts, command_parser
from search_spaces.config import NOTEBOOK_CHOICES
from search_spaces.cost import NOTEBOOK_MAX_LSTM_PARAMS, SMALLEST_LSTM_PARAMS
from search_spaces.lstm import SPACES
from storage import HEARTBEAT_GRACE, StorageError, kind_of, redacted
from study.reruns.race_rules import FIRST_SEEDS
from study.setup.flags import add_data_arguments, add_training_arguments, check_learning_rate
from study.setup.sampling import PRUNERS
from study.training.data import Dataset
from study.trials.directions import DIRECTIONS, is_multi

#: The flags that must be at least 1, in the order they are checked.
POSITIVE = (
    "trials", "epochs", "batch_size", "max_features", "maxlen", "workers", "repeats",
    "heartbeat_grace", "max_failures",
)  # fmt: skip


#: Seeds per trial that ``--repeats auto`` picks, by JAX platform. On a GPU R seeds cost little
#: more than one (issue 22: R = 16 cost 1.0-1.6x one run on an H200), on two CPU cores about R/2.
AUTO_REPEATS = {"gpu": 8, "cpu": 1}


def _repeats(value: str) -> int | str:
    """``--repeats``: a number, or ``auto``."""
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes a number or 'auto', got {value!r}") from None


def resolve_repeats(args: argparse.Namespace, recorded: Mapping[str, Any] | None) -> None:
    """Turns ``--repeats auto`` into a number: the study's own on resume, else by device.

    Resolved when the study is created and recorded as its ``repeats``, so a study resumed
    with ``auto`` on another machine keeps its seeds per trial (and an explicit other number is
    refused as any changed setting is, ``study.setup.settings``).

    Args:
        args: The parsed command line; ``args.repeats`` is replaced.
        recorded: The existing study's recorded settings (``study.setup.settings``), empty or
            None for a new study.
    """
    if args.repeats != "auto":
        return
    if recorded and "repeats" in recorded:
        args.repeats = int(recorded["repeats"])
        return
    import keras

    platform = "cpu"
    if keras.backend.backend() == "jax":
        import jax

        platform = jax.default_backend()
    args.repeats = AUTO_REPEATS.get(platform, 1)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m study.optimize``."""
    p = command_parser(
        "python -m study.optimize",
        "Optuna study over LSTM units, embedding size, dropout and layers on IMDB. "
        "Rerunning the same command resumes the study until it holds --trials finished trials.",
    )
    g = p.add_argument_group("study")
    g.add_argument(
        "--trials",
        type=int,
        default=100,
        help="finished (complete or pruned) trials the study should hold in total; proposals "
        "over --max-lstm-params are pruned untrained and do not count",
    )
    g.add_argument(
        "--storage",
        default=DEFAULT_STORAGE,
        help="Optuna storage: sqlite:///FILE.db, postgresql://..., journal:FILE or FILE.log",
    )
    g.add_argument("--study-name", default=DEFAULT_STUDY, help="name of the study in the storage")
    g.add_argument(
        "--pruner",
        choices=PRUNERS,
        default=None,
        help="prunes on validation accuracy after each epoch (baselines never); default median, "
        "none with --objectives accuracy,params",
    )
    g.add_argument(
        "--objectives",
        choices=tuple(DIRECTIONS),
        default="accuracy",
        help="maximize validation accuracy, or also minimize the parameter count "
        "(multi-objective TPE; no pruning)",
    )
    g.add_argument(
        "--space",
        choices=tuple(SPACES),
        default="notebook",
        help="what is searched: the notebook's units, embedding size, layers and dropout rates "
        "(notebook), or also the cell (LSTM/GRU), direction, readout (last state, max or mean "
        "over time) and learning rate (extended)",
    )
    g.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seeds the TPE sampler, the data split and every trial's Keras seed",
    )
    g.add_argument(
        "--repeats",
        type=_repeats,
        default=1,
        help="seeds trained per trial, together in one vectorized program (JAX); the objective "
        "is their mean validation accuracy and each trial records their spread; 'auto': "
        f"{AUTO_REPEATS['gpu']} on a GPU, 1 on a CPU, chosen when the study is created and kept",
    )
    g.add_argument(
        "--max-lstm-params",
        type=int,
        default=NOTEBOOK_MAX_LSTM_PARAMS,
        help="prune, before it trains, a sampled configuration with more LSTM weights than this "
        f"(default {NOTEBOOK_MAX_LSTM_PARAMS}: the notebook's largest, LSTM(128) on embedding "
        "8); 0 for no cap",
    )
    g.add_argument(
        "--no-baseline",
        action="store_true",
        help="do not enqueue the notebook's 14 configurations when creating the study",
    )
    g.add_argument(
        "--artifact-dir",
        type=Path,
        default=None,
        help="upload each trial's learning curve (CSV, PNG) to this optuna-dashboard artifact "
        "folder",
    )
    c = p.add_argument_group("the race (after the trials)")
    c.add_argument(
        "--confirm-top",
        type=int,
        default=5,
        help="once the study holds --trials, race its best K distinct configurations on shared "
        "new seeds in rounds (2, 4, 8, ... seeds), dropping each one worse than the leader beyond "
        "the seed noise, into the study <NAME>-confirm; the answer is the one left, or the set "
        "still tied, with mean ± std; 0: no race",
    )
    c.add_argument(
        "--confirm-budget",
        type=float,
        default=0.15,
        help="the race's training time, at most, as a share of the trials' (the first round's "
        "field is cut to what it affords, at least two)",
    )
    c.add_argument(
        "--confirm-max-seeds",
        type=int,
        default=16,
        help="the most seeds a configuration of the race gets",
    )
    add_data_arguments(p)
    add_training_arguments(p)
    w = p.add_argument_group("workers and recovery")
    w.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes on this host, sharing the storage (needs journal or PostgreSQL); "
        "with several GPUs each worker gets one through CUDA_VISIBLE_DEVICES",
    )
    w.add_argument(
        "--heartbeat-grace",
        type=int,
        default=HEARTBEAT_GRACE,
        help="seconds without a heartbeat before an RDB trial's worker is taken for dead and its "
        "trial failed and re-queued",
    )
    w.add_argument(
        "--max-failures",
        type=int,
        default=5,
        help="stop after this many trials in a row fail (diverged, out of memory)",
    )
    return p


def check_race(
    parser: argparse.ArgumentParser, budget: float, max_seeds: int, prefix: str
) -> None:
    """Exits 2 with one line when a race's budget or seed cap cannot race.

    ``prefix`` names the flags (``--confirm-`` for study.optimize's, ``--`` for study.confirm's).
    """
    if not (budget > 0 and math.isfinite(budget)):
        parser.error(f"{prefix}budget must be a positive share of the trials' time, got {budget}")
    if max_seeds < FIRST_SEEDS:
        flag = f"{prefix}max-seeds"
        parser.error(f"{flag} must be at least {FIRST_SEEDS} (a paired test), got {max_seeds}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parses and validates the command line; exits 2 with one line on bad input.

    Also resolves ``--pruner``'s default, which depends on ``--objectives``.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    check_counts(parser, args, [f for f in POSITIVE if getattr(args, f) != "auto"])
    if args.pruner is None:
        args.pruner = "none" if is_multi(args.objectives) else "median"
    elif is_multi(args.objectives) and args.pruner != "none":
        parser.error(
            f"--pruner {args.pruner} cannot be combined with --objectives {args.objectives}: "
            "Optuna does not prune multi-objective trials (use --pruner none or leave it out)"
        )
    check_learning_rate(parser, args)
    if args.space == "extended" and args.learning_rate != NOTEBOOK_CHOICES["learning_rate"]:
        parser.error(
            f"--learning-rate {args.learning_rate} with --space extended: the extended space "
            "searches the learning rate (its notebook configurations train at 1e-3); leave "
            "--learning-rate out"
        )
    if args.confirm_top < 0:
        parser.error(f"--confirm-top must be 0 (no race) or more, got {args.confirm_top}")
    check_race(parser, args.confirm_budget, args.confirm_max_seeds, "--confirm-")
    if args.max_lstm_params < 0:
        n = args.max_lstm_params
        parser.error(f"--max-lstm-params must be 0 (no cap) or positive, got {n}")
    if 0 < args.max_lstm_params < SMALLEST_LSTM_PARAMS:
        parser.error(
            f"--max-lstm-params {args.max_lstm_params} is below the smallest configuration's "
            f"{SMALLEST_LSTM_PARAMS} LSTM weights: no sampled configuration could train"
        )
    try:
        storage_kind = kind_of(args.storage)
    except StorageError as exc:
        parser.error(str(exc))
    if args.workers > 1 and storage_kind == "sqlite":
        parser.error(
            f"--workers {args.workers} with SQLite: SQLite is not safe for parallel workers; use "
            "--storage journal:FILE.log (one host) or postgresql://... (several hosts)"
        )
    if (
        args.artifact_dir is not None
        and args.artifact_dir.exists()
        and not args.artifact_dir.is_dir()
    ):
        parser.error(f"--artifact-dir must be a folder, got the file {str(args.artifact_dir)!r}")
    return args


def resolved_settings(args: argparse.Namespace, backend: str, data: Dataset) -> dict[str, Any]:
    """The whole settings of this run, as recorded in the study's user attributes.

    The storage URL is recorded without its password: anyone who can read the study could
    read it there.

    Args:
        args: The parsed command line (``parse_args``).
        backend: The Keras backend this process chose.
        data: The loaded data, whose fingerprint and split sizes are recorded.
    """
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    settings.update(
        storage=redacted(args.storage),
        backend=backend,
        data_fingerprint=data.fingerprint,
        data_sizes=data.sizes(),
    )
    return settings
