"""The data and training flags of the study's three commands, and the data settings they give.

No Keras and no Optuna here, so ``--help`` and bad input answer at once.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from search_spaces.config import DROPOUT_STYLES, NOTEBOOK_CHOICES
from study.training.data import DataSettings, default_cache_dir


def add_data_arguments(parser: argparse.ArgumentParser, *, val_split: bool = True) -> None:
    """The data flags (``--data``, ``--max-features``, ...), shared by the study's commands.

    Args:
        parser: The command line to add them to.
        val_split: Whether the command holds out a validation split (``--val-split``).
    """
    d = parser.add_argument_group("data")
    d.add_argument(
        "--data",
        default="imdb",
        help="'imdb' (keras.datasets download) or a path to an aclImdb folder or .tar.gz",
    )
    d.add_argument("--max-features", type=int, default=1000, help="vocabulary size (num_words)")
    d.add_argument("--maxlen", type=int, default=80, help="tokens kept per review (the last ones)")
    if val_split:
        d.add_argument(
            "--val-split",
            type=float,
            default=0.2,
            help="fraction of training reviews held out for validation (the objective)",
        )
    d.add_argument(
        "--limit-train",
        type=int,
        default=None,
        help="class-balanced subset of training reviews, for quick runs",
    )
    d.add_argument(
        "--limit-test",
        type=int,
        default=None,
        help="class-balanced subset of test reviews, for quick runs",
    )
    d.add_argument(
        "--cache-dir",
        type=Path,
        default=default_cache_dir(),
        help="where encoded arrays are cached",
    )


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """The training flags (``--epochs``, ``--dropout-style``, ...), shared by the commands."""
    t = parser.add_argument_group("training")
    t.add_argument("--epochs", type=int, default=5, help="epochs per trial")
    t.add_argument("--batch-size", type=int, default=32, help="training batch size")
    t.add_argument(
        "--learning-rate",
        type=float,
        default=NOTEBOOK_CHOICES["learning_rate"],
        help="Adam learning rate",
    )
    t.add_argument(
        "--dropout-style",
        choices=DROPOUT_STYLES,
        default="keras2",
        help="how LSTM dropout masks are drawn: keras2 = new masks at every time step, as the "
        "notebook's Keras 2 did (reproduces its figures); keras3 = one mask per review, Keras 3's "
        "LSTM as it is (docs/reproducing-the-notebook.md)",
    )
    t.add_argument(
        "--repeat-mode",
        choices=("vectorized", "sequential"),
        default="vectorized",
        help="how several seeds of one configuration train: together as one JAX program, or one "
        "after another (the same runs, slower; for comparison)",
    )
    t.add_argument(
        "--backend",
        choices=("auto", "jax", "tensorflow"),
        default="auto",
        help="Keras backend; auto picks JAX, the fastest on CPU (benchmarks/README.md)",
    )


def check_learning_rate(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuses a learning rate that is not positive (exit 2, one line naming the value).

    Apart from ``check_counts`` because ``study.optimize`` checks its ``--pruner`` between the
    two, and the first bad flag of a command line is the one named.
    """
    if not args.learning_rate > 0:
        parser.error(f"--learning-rate must be positive, got {args.learning_rate}")


def data_settings(args: argparse.Namespace) -> DataSettings:
    """The data part of a command line (``add_data_arguments`` and ``--seed``)."""
    return DataSettings(
        source=args.data,
        max_features=args.max_features,
        maxlen=args.maxlen,
        # A command without a validation split (the notebook's protocol) keeps the default.
        val_split=getattr(args, "val_split", DataSettings.val_split),
        limit_train=args.limit_train,
        limit_test=args.limit_test,
        seed=args.seed,
        cache_dir=args.cache_dir,
    )
