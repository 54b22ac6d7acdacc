"""Checks whether optuna-dashboard on a SQLite file breaks the study writing it (dashboard #545).

Writes trials (ask, five intermediate values, a user attribute, tell) for --seconds while an
optuna-dashboard server on the same file answers --readers threads polling its API, once through
this project's storage (60 s SQLite lock timeout) and once through a plain RDBStorage (SQLAlchemy
default, 5 s). Prints a Markdown table of writer errors and dashboard reads; exits 0.

    python benchmarks/dashboard_while_writing.py --seconds 40
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import warnings
from pathlib import Path

import optuna

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from storage import open_storage  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(mode: str, seconds: float, readers: int, folder: Path) -> tuple[int, int, int, int]:
    url = f"sqlite:///{folder / f'{mode}.db'}"
    storage = open_storage(url) if mode == "project" else optuna.storages.RDBStorage(url)
    study = optuna.create_study(storage=storage, study_name="w", direction="maximize")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-c", "from optuna_dashboard._cli import main; main()", url,
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/studies", timeout=2).read()
            break
        except OSError:
            time.sleep(0.3)
    stop = threading.Event()
    counts = {"reads": 0, "read_errors": 0}

    def poll() -> None:
        while not stop.is_set():
            try:
                urllib.request.urlopen(f"{base}/api/studies/1", timeout=30).read()
                counts["reads"] += 1
            except OSError:
                counts["read_errors"] += 1

    threads = [threading.Thread(target=poll) for _ in range(readers)]
    for t in threads:
        t.start()
    written = errors = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            trial = study.ask()
            x = trial.suggest_float("x", 0, 1)
            for step in range(5):
                trial.report(x * step, step)
            trial.set_user_attr("history", [x] * 5)
            study.tell(trial, x)
            written += 1
        except Exception as exc:  # the failure this benchmark looks for
            errors += 1
            print(f"{mode}: writer error: {type(exc).__name__}: {exc}", file=sys.stderr)
    stop.set()
    for t in threads:
        t.join()
    server.terminate()
    server.wait(timeout=30)
    return written, errors, counts["reads"], counts["read_errors"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=40)
    p.add_argument("--readers", type=int, default=4)
    args = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore")
    print("| writer storage | trials written | writer errors | dashboard reads | read errors |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("project", "plain"):
            written, errors, reads, read_errors = run(mode, args.seconds, args.readers, Path(tmp))
            print(f"| {mode} | {written} | {errors} | {reads} | {read_errors} |")


if __name__ == "__main__":
    main()
