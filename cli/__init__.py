"""Command-line helpers every command shares: one-line errors, storage flags, count checks.

``python -m study.optimize``, ``study.confirm``, ``study.reproduce`` and ``python -m reports``
build their parsers from these, so a flag means the same in every command and bad input gets the
same answer everywhere: one line on stderr and exit code 2, before anything is written. This room
stands below ``study`` and ``reports`` and imports neither, nor Keras, nor Optuna.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

DEFAULT_STORAGE = "sqlite:///rnn_design_study.db"
DEFAULT_STUDY = "rnn-design"


class OneLineParser(argparse.ArgumentParser):
    """Reports bad arguments as one line (no usage dump), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def command_parser(prog: str, description: str) -> OneLineParser:
    """A command's parser: one-line errors, and ``--help`` shows every default.

    Args:
        prog: How the command is run, e.g. ``"python -m study.optimize"``.
        description: What ``--help`` says the command does.
    """
    return OneLineParser(
        prog=prog,
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )


def add_storage_arguments(parser: argparse.ArgumentParser, *, study_help: str) -> None:
    """``--storage`` and ``--study-name`` of a command that works on an existing study's storage.

    Args:
        parser: The command line to add them to.
        study_help: What ``--study-name`` names in this command.
    """
    parser.add_argument("--storage", default=DEFAULT_STORAGE, help="Optuna storage URL")
    parser.add_argument("--study-name", default=DEFAULT_STUDY, help=study_help)


def check_counts(
    parser: argparse.ArgumentParser, args: argparse.Namespace, positive: Sequence[str]
) -> None:
    """Refuses counts below 1, subsets of fewer than 2 reviews and a split outside (0, 1).

    Exits 2 with one line naming the first bad flag and its value (``parser.error``).

    Args:
        parser: The command's parser, which reports the error.
        args: The parsed command line, with the data flags (``add_data_arguments``).
        positive: The argparse destinations that must be at least 1, checked in this order.
    """
    for flag in positive:
        value = getattr(args, flag)
        if value < 1:
            parser.error(f"--{flag.replace('_', '-')} must be positive, got {value}")
    for flag in ("limit_train", "limit_test"):
        value = getattr(args, flag)
        if value is not None and value < 2:
            parser.error(f"--{flag.replace('_', '-')} must be at least 2, got {value}")
    # Only commands that hold out a validation split have the flag.
    if hasattr(args, "val_split") and not 0.0 < args.val_split < 1.0:
        parser.error(f"--val-split must be between 0 and 1 (exclusive), got {args.val_split}")


def input_error(exc: Exception) -> int:
    """Says what is wrong with the input (storage, study, data) in one line on stderr.

    Returns:
        The exit code of bad input, 2.
    """
    print(f"error: {exc}", file=sys.stderr)
    return 2
