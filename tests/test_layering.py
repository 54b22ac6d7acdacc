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
     "study.reproduce", "study.reruns.groups", "study.setup.sampling", "study.setup.baselines",
     "study.setup.create", "study.reruns.confirmation", "study.reruns.reproduction", "cli",
     "reports.__main__", "reports.build",
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


#: The project's top-level rooms, the engine apart from the rest of ``study``.
ROOMS = ("cli", "search_spaces", "storage", "reports", "study.training", "study")
#: Every arrow between rooms that the code may draw (importer -> imported): all point down.
ARROWS = {
    ("study", "study.training"), ("study", "reports"), ("study", "search_spaces"),
    ("study", "storage"), ("study", "cli"), ("study.training", "search_spaces"),
    ("reports", "search_spaces"), ("reports", "storage"), ("reports", "cli"),
}  # fmt: skip


def _room(module: str) -> str | None:
    return next((r for r in ROOMS if module == r or module.startswith(f"{r}.")), None)


def test_the_arrows_between_rooms_all_point_down() -> None:
    # Every import of the product's code, lazy ones included, between two rooms: a new arrow
    # (reports importing study, cli importing anything of ours) fails here, naming the module.
    found: dict[tuple[str, str], set[str]] = {}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in ("tests", "benchmarks") or rel.parts[0].startswith("."):
            continue
        source = _room(_module_name(path))
        for name in _imported_names(path):
            target = _room(name)
            if source and target and target != source:
                found.setdefault((source, target), set()).add(_module_name(path))
    assert ("study", "reports") in found  # the walk saw the confirmation's report tables
    assert {a: sorted(m) for a, m in found.items() if a not in ARROWS} == {}


def test_reports_and_the_command_line_helpers_load_nothing_of_the_study() -> None:
    loaded = _modules_loaded_after("import reports.__main__, reports.build, reports.plots, cli")
    assert "reports.build" in loaded
    assert sorted(m for m in loaded if m == "study" or m.startswith("study.")) == []


def test_help_answers_without_keras() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "study.optimize", "--help"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for flag in ("--trials", "--storage", "--data", "--pruner", "--no-baseline", "--val-split"):
        assert flag in out
