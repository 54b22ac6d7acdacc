"""The arrows point one way: light packages never pull in Keras, the engine never Optuna."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

HEAVY = ("keras", "tensorflow", "jax")
ENGINE = ROOT / "study" / "training"
#: The study modules that print report tables, so may import ``reports`` (progress: lazily, for a
#: confirmed study's line).
REPORT_PRINTERS = {"study.confirm", "study.reproduce", "study.workers.progress"}


def _modules_loaded_after(import_line: str) -> set[str]:
    code = f"import sys\n{import_line}\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return set(out.split())


def _loaded_after(import_line: str) -> set[str]:
    return {name.split(".")[0] for name in _modules_loaded_after(import_line)}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_names(path: Path) -> set[str]:
    """Every module a file's source imports, at the top or lazily inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def _outside_engine(name: str) -> bool:
    top = name.split(".")[0]
    if top in ("optuna", "optuna_integration", "reports"):
        return True
    return top == "study" and name != "study" and not name.startswith("study.training")


ENGINE_MODULES = sorted(_module_name(p) for p in ENGINE.glob("*.py"))


@pytest.mark.parametrize(
    "module",
    ["search_spaces", "search_spaces.lstm", "search_spaces.baseline", "storage", "reports",
     "study.setup.settings", "study.trials.directions", "study.setup.flags",
     "study.setup.optimize_flags", "study.workers.run", "study.workers.parallel",
     "study.workers.stopping", "study.workers.progress", "study.optimize", "study.confirm",
     "study.reproduce", "study.reruns.groups", "reports.__main__", "reports.build",
     "reports.reproduction", "reports.plots", "study.training.settings", "search_spaces.keys",
     "study.training.data", "study.training.seeds", "study.training.reference"],
)  # fmt: skip
def test_light_modules_do_not_import_keras(module: str) -> None:
    loaded = _loaded_after(f"import {module}")
    assert not loaded & set(HEAVY), f"{module} imports {loaded & set(HEAVY)}"


def test_the_engine_imports_nothing_above_it() -> None:
    # study.training never imports Optuna, the study side (study.* outside it) or reports, even
    # lazily inside a function: the Optuna side calls the engine, never the reverse.
    assert len(ENGINE_MODULES) > 10, ENGINE_MODULES  # the glob found the package
    wrong = {
        _module_name(path): sorted(filter(_outside_engine, _imported_names(path)))
        for path in ENGINE.glob("*.py")
    }
    assert {m: names for m, names in wrong.items() if names} == {}


def test_importing_every_engine_module_loads_no_optuna_and_nothing_above() -> None:
    loaded = _modules_loaded_after("\n".join(f"import {m}" for m in ENGINE_MODULES))
    assert set(ENGINE_MODULES) <= loaded
    assert sorted(filter(_outside_engine, loaded)) == []


def test_only_the_commands_that_print_report_tables_import_reports() -> None:
    importers = {
        _module_name(path)
        for path in (ROOT / "study").rglob("*.py")
        if any(n.split(".")[0] == "reports" for n in _imported_names(path))
    }
    assert importers == REPORT_PRINTERS


def test_the_study_layer_imports_reports_only_in_the_commands_that_print_its_tables() -> None:
    # study.confirm and study.reproduce print report tables; everything else in study/ stands
    # below reports/ (which may import the light study.setup.flags).
    modules = ("study.optimize", "study.setup.flags", "study.setup.optimize_flags",
               "study.workers.run", "study.workers.parallel", "study.workers.stopping",
               "study.workers.progress", "study.setup.settings", "study.trials.directions",
               "study.reruns.groups", "study.workers.ownership")  # fmt: skip
    assert "reports" not in _loaded_after("\n".join(f"import {m}" for m in modules))


def test_help_answers_without_keras() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "study.optimize", "--help"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for flag in ("--trials", "--storage", "--data", "--pruner", "--no-baseline", "--val-split"):
        assert flag in out
