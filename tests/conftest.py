"""Shared fixtures: tiny aclImdb-layout datasets made on the spot, and the real tarball's path."""

from __future__ import annotations

import os

# In-process tests run on the backend the product picks by default (``--backend auto``: JAX);
# Keras reads the variable once, at its first import, so it is set before any test imports it.
os.environ.setdefault("KERAS_BACKEND", "jax")

import random  # noqa: E402
import tarfile  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

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


from tests.postgres import postgres_server, postgres_url  # noqa: E402, F401  (fixtures)
