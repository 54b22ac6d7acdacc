"""The arrows point one way: light packages never pull in Keras, the builder never Optuna."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

HEAVY = ("keras", "tensorflow", "jax")


def _loaded_after(import_line: str) -> set[str]:
    code = f"import sys\n{import_line}\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return {name.split(".")[0] for name in out.split()}


@pytest.mark.parametrize(
    "module",
    ["search_spaces", "search_spaces.lstm", "search_spaces.baseline", "storage", "reports",
     "study.study_setup", "study.directions", "study.cli", "study.optimize_args", "study.run",
     "study.parallel", "study.stopping", "study.progress", "study.optimize", "study.confirm",
     "study.reproduce", "study.reruns", "reports.__main__", "reports.build",
     "reports.reproduction", "reports.plots", "study.training.settings"],
)  # fmt: skip
def test_light_modules_do_not_import_keras(module: str) -> None:
    loaded = _loaded_after(f"import {module}")
    assert not loaded & set(HEAVY), f"{module} imports {loaded & set(HEAVY)}"


def test_the_study_layer_imports_reports_only_in_the_commands_that_print_its_tables() -> None:
    # study.confirm and study.reproduce print report tables; everything else in study/ stands
    # below reports/ (which may import the light study.cli).
    modules = ("study.optimize", "study.cli", "study.optimize_args", "study.run",
               "study.parallel", "study.stopping", "study.progress", "study.study_setup",
               "study.directions", "study.reruns", "study.workers")  # fmt: skip
    assert "reports" not in _loaded_after("\n".join(f"import {m}" for m in modules))


def test_model_builder_does_not_import_optuna() -> None:
    assert "optuna" not in _loaded_after("import study.training.model")


def test_help_answers_without_keras() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "study.optimize", "--help"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for flag in ("--trials", "--storage", "--data", "--pruner", "--no-baseline", "--val-split"):
        assert flag in out
