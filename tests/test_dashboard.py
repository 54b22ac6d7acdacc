"""optuna-dashboard on a study of ours, rendered by headless Chromium, with trial artifacts.

CI installs Chromium (``.ci/run``); this test is skipped only on a developer machine without it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.artifacts import FileSystemArtifactStore, get_all_artifact_meta

from search_spaces.config import ModelConfig
from study.setup.create import open_study
from study.setup.sampling import make_pruner, make_sampler
from study.trials.artifacts import upload_history
from tests.report_studies import add

STUDY = "dash-study-xyz"


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI"):
        pytest.fail("Chromium is missing in CI: .ci/run must install the 'chromium' package")
    pytest.skip("Chromium is not installed (apt-get install chromium)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[tuple[str, int]]:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    study, _ = open_study(
        optuna.storages.RDBStorage(url), STUDY, sampler=make_sampler(0),
        pruner=make_pruner("none", 1), baseline=False, settings={},
    )  # as study.optimize creates it: with its metric names  # fmt: skip
    for units in (8, 16):
        add(study, ModelConfig(units, 8), 0.6 + units / 100)
    trial = study.ask(
        {"units": optuna.distributions.IntDistribution(8, 256, log=True)}
    )  # a running trial, as the objective sees it
    trial.set_user_attr("val_accuracy_history", [0.61, 0.72])
    (tmp_path / "artifacts").mkdir()
    store = FileSystemArtifactStore(str(tmp_path / "artifacts"))
    ids = upload_history(trial, store)
    study.tell(trial, 0.72)
    metas = get_all_artifact_meta(study.trials[-1], storage=study._storage)
    assert {m.filename for m in metas} == {"trial-2-history.csv", "trial-2-history.png"}
    assert len(ids) == 2
    csv = (tmp_path / "artifacts").rglob("*")
    assert any(p.is_file() and p.read_bytes().startswith(b"epoch,val_accuracy") for p in csv)

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", "from optuna_dashboard._cli import main; main()", url,
         "--host", "127.0.0.1", "--port", str(port), "--artifact-dir",
         str(tmp_path / "artifacts")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    err = server.stderr.read().decode() if server.stderr else ""
                    pytest.fail(f"optuna-dashboard did not start: {err[-2000:]}")
                time.sleep(0.3)
        yield url, port
    finally:
        server.terminate()
        server.wait(timeout=30)


def render(browser: str, url: str, profile: Path) -> str:
    result = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=10000",
         "--dump-dom", url],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_dashboard_renders_the_study_and_its_trials(dashboard, tmp_path: Path) -> None:
    browser = chromium()
    _, port = dashboard
    home = render(browser, f"http://127.0.0.1:{port}/dashboard", tmp_path / "profile")
    assert STUDY in home
    trials = render(
        browser, f"http://127.0.0.1:{port}/dashboard/studies/1/trials", tmp_path / "profile"
    )
    assert STUDY in trials
    for number in range(3):
        assert f"Trial {number}" in trials
    page = render(browser, f"http://127.0.0.1:{port}/dashboard/studies/1", tmp_path / "profile")
    # The history plot's objective selector and axis name the metric, not "Objective 0".
    assert "val_accuracy" in page
    assert "Objective 0" not in page
