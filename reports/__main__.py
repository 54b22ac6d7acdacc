"""``python -m reports``: write a study's report (tables, findings, figures) into a folder.

Reads the study without a heartbeat and without creating anything, so it is safe while workers
write; the only write is the findings note for optuna-dashboard (``--no-dashboard-note`` skips it).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import optuna

from cli import add_storage_arguments, command_parser, input_error
from reports import importance
from reports.load import ReportInputError, load_study_readonly
from reports.plots import FORMATS

DEFAULT_FORMATS = "png,html"


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m reports``."""
    p = command_parser(
        "python -m reports",
        "Write a study's report: trials.csv, report.md, report.html and figures.",
    )
    add_storage_arguments(p, study_help="study to report on")
    p.add_argument("--out", type=Path, default=Path("reports_out"), help="output folder")
    p.add_argument(
        "--formats",
        default=DEFAULT_FORMATS,
        help=f"comma-separated figure formats out of {','.join(FORMATS)} (PNG is always written)",
    )
    p.add_argument(
        "--no-dashboard-note",
        action="store_true",
        help="do not save the findings as the study's optuna-dashboard note (read only)",
    )
    g = p.add_argument_group("parameter importances (reports/importance.py)")
    g.add_argument(
        "--importance-evaluator",
        default=importance.DEFAULT_EVALUATOR,
        help=f"one of {','.join(importance.EVALUATORS)} (default %(default)s; fanova takes "
        "about 1 s per resample or permutation on 2 cores, 25x PED-ANOVA: minutes)",
    )
    g.add_argument(
        "--importance-target",
        default=importance.DEFAULT_TARGET,
        help=f"what the importances explain, one of {','.join(importance.TARGETS)}: final "
        "validation accuracy of complete trials, or after epoch 1 of every trained trial "
        "(default %(default)s)",
    )
    g.add_argument(
        "--importance-resamples",
        type=int,
        default=importance.DEFAULT_RESAMPLES,
        help="bootstrap resamples of the trials for the intervals (default %(default)s)",
    )
    g.add_argument(
        "--importance-permutations",
        type=int,
        default=importance.DEFAULT_PERMUTATIONS,
        help="studies with permuted accuracies for the noise floor (default %(default)s)",
    )
    g.add_argument(
        "--importance-seed",
        type=int,
        default=importance.DEFAULT_SEED,
        help="seed of the resamples, permutations and fANOVA (default %(default)s)",
    )
    return p


def importance_settings(args: argparse.Namespace) -> dict[str, object]:
    """The keyword arguments of ``importance.compute_importances`` the command line asks for."""
    return {
        "evaluator": args.importance_evaluator,
        "target": args.importance_target,
        "resamples": args.importance_resamples,
        "permutations": args.importance_permutations,
        "seed": args.importance_seed,
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parses and validates the command line; exits 2 with one line on bad input."""
    parser = build_parser()
    args = parser.parse_args(argv)
    formats = [f.strip().lower() for f in args.formats.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        parser.error(
            f"--formats takes a comma-separated subset of {','.join(FORMATS)}, "
            f"got {args.formats!r}"
        )
    # importance.png and pareto.png are what users paste: always write PNG.
    args.formats = ["png", *[f for f in formats if f != "png"]]
    if args.importance_evaluator not in importance.EVALUATORS:
        parser.error(
            f"--importance-evaluator must be one of {', '.join(importance.EVALUATORS)}, "
            f"got {args.importance_evaluator!r}"
        )
    if args.importance_target not in importance.TARGETS:
        parser.error(
            f"--importance-target must be one of {', '.join(importance.TARGETS)}, "
            f"got {args.importance_target!r}"
        )
    for flag in ("resamples", "permutations"):
        value = getattr(args, f"importance_{flag}")
        if value < 0:
            parser.error(f"--importance-{flag} must be 0 or more, got {value}")
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out must be a folder, got the file {str(args.out)!r}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Builds the report; returns the process exit code."""
    args = parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = load_study_readonly(args.storage, args.study_name)
    except ReportInputError as exc:
        return input_error(exc)
    from reports.build import build_report, save_dashboard_note  # matplotlib, plotly: slower

    start = time.perf_counter()
    data = build_report(study, args.out, args.formats, importance_settings(args))
    done = int((data.frame["state"] == "COMPLETE").sum())
    if not args.no_dashboard_note:
        try:
            save_dashboard_note(study, data)
        except Exception as exc:  # a locked or read-only storage must not lose the report
            print(f"warning: dashboard note not saved: {exc}", file=sys.stderr)
    print(
        f"wrote {args.out / 'report.html'} ({len(data.frame)} trials, {done} complete) "
        f"in {time.perf_counter() - start:.1f} s"
    )
    if done == 0:
        print("no trial has completed yet: the report says so and its figures are empty")
    return 0


if __name__ == "__main__":
    sys.exit(main())
