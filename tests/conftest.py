"""Shared fixtures: tiny aclImdb-layout datasets made on the spot, and the real tarball's path.

The suite runs on pytest-xdist workers (``addopts`` in pyproject.toml). Work that many tests would
repeat is done once per run: one JAX compilation cache for every process of the run (workers and
the commands the tests start), and ``build_once`` for a folder built by whichever worker asks
first while the others wait on a file lock (pytest-xdist's recipe for session fixtures).
"""

from __future__ import annotations

import os

# In-process tests run on the backend the product picks by default (``--backend auto``: JAX);
# Keras reads the variable once, at its first import, so it is set before any test imports it.
os.environ.setdefault("KERAS_BACKEND", "jax")

import random  # noqa: E402
import shutil  # noqa: E402
import tarfile  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from filelock import FileLock  # noqa: E402

from study.training.backend import COMPILATION_CACHE_BYTES  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REAL_TARBALL = ROOT.parent / "shared" / "data" / "aclImdb_reviews.tar.gz"

POSITIVE = ["great", "wonderful", "loved", "superb", "brilliant", "moving"]
NEGATIVE = ["awful", "boring", "hated", "terrible", "dull", "worst"]
NEUTRAL = ["the", "movie", "film", "a", "plot", "actor", "it", "was", "and", "scene", "of"]


def make_aclimdb(root: Path, n_train: int = 200, n_test: int = 100, seed: int = 0) -> Path:
    """Writes a tiny aclImdb folder whose sentiment is learnable from a few words."""
    rng = random.Random(seed)
    base = root / "aclImdb"
    for split, n in (("train", n_train), ("test", n_test)):
        for label, words in (("pos", POSITIVE), ("neg", NEGATIVE)):
            folder = base / split / label
            folder.mkdir(parents=True)
            for i in range(n // 2):
                body = [rng.choice(NEUTRAL) for _ in range(rng.randint(8, 30))]
                for _ in range(3):
                    body.insert(rng.randrange(len(body)), rng.choice(words))
                text = " ".join(body).capitalize() + ".<br /><br />" + rng.choice(words) + "!"
                rating = rng.choice((7, 8, 9, 10) if label == "pos" else (1, 2, 3, 4))
                (folder / f"{i}_{rating}.txt").write_text(text, encoding="utf-8")
    (base / "README").write_text("tiny test copy\n")
    return base


_JAX_CACHE = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    """Gives the run one JAX compilation cache, shared by its workers and their subprocesses.

    Every command a test starts would otherwise compile the same tiny models again into its own
    ``--cache-dir``; ``select_backend`` only sets ``JAX_COMPILATION_CACHE_DIR`` when it is unset,
    so this folder wins. Set here, before any test module imports JAX, and inherited by the
    xdist workers (they find it set and keep it); a cache the developer set is left alone.
    """
    if "JAX_COMPILATION_CACHE_DIR" in os.environ:
        return
    path = tempfile.mkdtemp(prefix="rnn-study-tests-jax-")
    config.stash[_JAX_CACHE] = path
    os.environ["JAX_COMPILATION_CACHE_DIR"] = path
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    # A size bound makes JAX lock the folder for each read and write; the commands set it too.
    os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(COMPILATION_CACHE_BYTES))


def pytest_unconfigure(config: pytest.Config) -> None:
    path = config.stash.get(_JAX_CACHE, None)
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)
        os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)


@pytest.fixture(scope="session")
def run_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder every xdist worker of this run sees: the run's base temporary folder."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def build_once(root: Path, name: str, build: Callable[[Path], None]) -> Path:
    """``root / name``, built by ``build`` once per run whichever worker asks first.

    The others wait on a file lock, then read what the first one built. A build that failed
    leaves no ``.done`` mark: the next worker to ask builds it again, and fails the same way.
    """
    folder = root / name
    with FileLock(str(root / f"{name}.lock")):
        if not (folder / ".done").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            (folder / ".done").touch()
    return folder


@pytest.fixture(scope="session")
def tiny_imdb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny aclImdb folder: 200 training and 100 test reviews, balanced."""
    return make_aclimdb(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def real_tarball() -> Path:
    """The shared IMDB tarball beside the repository; missing, it skips, but fails in CI."""
    if not REAL_TARBALL.exists():
        if os.environ.get("CI"):
            pytest.fail(f"the shared IMDB tarball is missing in CI: expected {REAL_TARBALL}")
        pytest.skip(f"the shared IMDB tarball is not beside the repository ({REAL_TARBALL})")
    return REAL_TARBALL


@pytest.fixture(scope="session")
def tiny_tarball(tiny_imdb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same tiny reviews packed like the official ``aclImdb_v1.tar.gz``."""
    path = tmp_path_factory.mktemp("tar") / "aclImdb_tiny.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        tar.add(tiny_imdb, arcname="aclImdb")
    return path


from tests.cli_study import finished_study, finished_study_rerun  # noqa: E402, F401  (fixtures)
from tests.postgres import postgres_server, postgres_url  # noqa: E402, F401  (fixtures)
