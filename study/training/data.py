"""IMDB reviews as the notebook sees them: Keras-encoded word indices, padded to ``maxlen``.

Two sources give the same kind of arrays:

* ``imdb``: ``keras.datasets.imdb.load_data``, exactly the notebook's source (needs a download).
* a path to the Large Movie Review Dataset in its original layout
  (``aclImdb/{train,test}/{pos,neg}``), as a folder or a ``.tar.gz``. It is encoded the way Keras'
  IMDB set is: text lower-cased and split with Keras' ``text_to_word_sequence`` rules (punctuation
  out, apostrophes kept), words ranked by frequency in the *training* reviews, ``start_char=1``,
  ``oov_char=2``, ``index_from=3``. The ``<br />`` tags stay in as the word ``br``, as they did in
  Keras' own word index (where "br" ranks 7th), so the top 1,000 words match Keras' closely. The
  encoded arrays are cached as ``.npz`` keyed by the file's fingerprint and the settings.

Then a stratified, seeded validation split is carved from the training reviews: the study tunes on
it, and the test reviews are only ever evaluated, never used to choose.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import re
import tarfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from study.training.seeds import entropy

#: Bump when the encoding changes, so old caches are not reused.
ENCODING_VERSION = 1
START_CHAR = 1
OOV_CHAR = 2
INDEX_FROM = 3
#: Keras shuffles its IMDB arrays with this seed; we do the same for parity.
KERAS_IMDB_SEED = 113
#: ``SeedSequence`` spawn key of the ``--limit-test`` stream (see ``_streams``).
_TEST_STREAM = 1

_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
_TRANSLATE = str.maketrans(_FILTERS, " " * len(_FILTERS))
_MEMBER = re.compile(r"(?:^|/)(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")


class DataError(ValueError):
    """The data source cannot be read; the message is one line meant for the user."""


@dataclass(frozen=True)
class DataSettings:
    """Everything that decides which arrays a study trains on.

    Attributes:
        source: ``"imdb"`` for Keras' download, or a path to an aclImdb folder or ``.tar.gz``.
        max_features: Vocabulary size: words ranked beyond it become ``oov_char``.
        maxlen: Length every review is padded or cut to (keeping its last tokens).
        val_split: Fraction of the training reviews held out for validation.
        limit_train: Class-balanced subset of the training reviews (before the split), or None.
        limit_test: Class-balanced subset of the test reviews, or None.
        seed: Seed of the subsets and the split (any integer; ``--limit-test`` draws from a
            stream of its own, see ``_streams``).
        cache_dir: Where encoded arrays are cached; None disables the cache.
    """

    source: str = "imdb"
    max_features: int = 1000
    maxlen: int = 80
    val_split: float = 0.2
    limit_train: int | None = None
    limit_test: int | None = None
    seed: int = 0
    cache_dir: Path | None = None


@dataclass(frozen=True)
class Dataset:
    """The arrays of one study, and a fingerprint of where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    fingerprint: str

    def sizes(self) -> dict[str, int]:
        """Number of reviews in each split."""
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}


def default_cache_dir() -> Path:
    """The user cache folder: ``$XDG_CACHE_HOME/rnn-design-study`` or ``~/.cache/...``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rnn-design-study"


def load_dataset(settings: DataSettings) -> Dataset:
    """Loads, encodes (or reads from cache), subsets and splits the reviews.

    Args:
        settings: What to load and how to split it.

    Returns:
        The train/validation/test arrays.

    Raises:
        DataError: The source is missing, unreadable, wrongly laid out, or smaller than a limit.
    """
    if settings.source == "imdb":
        (x_train, y_train, x_test, y_test), fingerprint = _load_keras_imdb(settings)
    else:
        (x_train, y_train, x_test, y_test), fingerprint = _load_aclimdb_cached(settings)
    train_rng, test_rng = _streams(settings.seed)
    if settings.limit_train is not None:
        keep = balanced_subset(y_train, settings.limit_train, train_rng, what="--limit-train")
        x_train, y_train = x_train[keep], y_train[keep]
    if settings.limit_test is not None:
        keep = balanced_subset(y_test, settings.limit_test, test_rng, what="--limit-test")
        x_test, y_test = x_test[keep], y_test[keep]
    train_idx, val_idx = stratified_split(y_train, settings.val_split, train_rng)
    return Dataset(
        x_train=x_train[train_idx],
        y_train=y_train[train_idx],
        x_val=x_train[val_idx],
        y_val=y_train[val_idx],
        x_test=x_test,
        y_test=y_test,
        fingerprint=fingerprint,
    )


def load_notebook_protocol(settings: DataSettings) -> Dataset:
    """The notebook's protocol: train on every training review, validate on the test reviews.

    The notebook passes ``validation_data=(x_test, y_test)`` to ``fit``, so what it watched
    after every epoch was test accuracy. Only ``python -m study.reproduce`` uses this, to
    reproduce the notebook's figures; a study that chooses between configurations validates on
    a split of the training reviews instead (``load_dataset``). ``settings.val_split`` is
    ignored.
    """
    data = load_dataset(dataclasses.replace(settings, val_split=0.0))
    return dataclasses.replace(data, x_val=data.x_test, y_val=data.y_test)


def _streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators for the training side and for the test subset.

    The training subset and the validation split draw from the seed's own stream, in that order
    (the split is carved from the subset, so it depends on ``--limit-train`` by nature); that is
    the stream earlier versions drew everything from, so a study without ``--limit-test`` keeps
    its exact split. ``--limit-test`` draws from a stream of its own, so changing it changes
    nothing on the training side.
    """
    root = np.random.SeedSequence(entropy(seed))
    test = np.random.SeedSequence(root.entropy, spawn_key=(_TEST_STREAM,))
    return np.random.default_rng(root), np.random.default_rng(test)


def balanced_subset(
    labels: np.ndarray, n: int, rng: np.random.Generator, *, what: str = "limit"
) -> np.ndarray:
    """Indices of a seeded subset of ``n`` examples with the classes as balanced as possible."""
    if n > len(labels):
        raise DataError(f"{what} {n} is larger than the {len(labels)} reviews available")
    classes = np.unique(labels)
    picked = []
    for i, cls in enumerate(classes):
        # Spread the remainder over the first classes so the subset has exactly n examples.
        want = n // len(classes) + (1 if i < n % len(classes) else 0)
        members = np.flatnonzero(labels == cls)
        if want > len(members):
            raise DataError(f"{what} {n} needs {want} reviews of class {cls}, only {len(members)}")
        picked.append(rng.permutation(members)[:want])
    return np.sort(np.concatenate(picked))


def stratified_split(
    labels: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Splits indices into (train, validation), holding out ``fraction`` of each class."""
    train, val = [], []
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        n_val = int(round(fraction * len(members)))
        val.append(members[:n_val])
        train.append(members[n_val:])
    # Interleave the classes; Keras shuffles batches anyway, but evaluation order is fixed.
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(val))


def tokenize(text: str) -> list[str]:
    """Splits a review into words with Keras' ``text_to_word_sequence`` defaults."""
    return text.lower().translate(_TRANSLATE).split()


def build_word_index(tokenized: Iterable[list[str]]) -> dict[str, int]:
    """Ranks words by frequency (1 = most frequent; ties keep first appearance), like Keras."""
    counts: Counter[str] = Counter()
    for words in tokenized:
        counts.update(words)
    return {word: rank for rank, (word, _) in enumerate(counts.most_common(), start=1)}


def encode(words: list[str], word_index: dict[str, int], num_words: int) -> list[int]:
    """Encodes one review as Keras' IMDB loader does (start char, index offset, OOV char)."""
    out = [START_CHAR]
    for word in words:
        index = word_index.get(word)
        value = OOV_CHAR if index is None else index + INDEX_FROM
        out.append(value if value < num_words else OOV_CHAR)
    return out


def pad(sequences: list[list[int]], maxlen: int) -> np.ndarray:
    """Pre-pads with 0 and keeps the last ``maxlen`` tokens (``pad_sequences`` defaults)."""
    out = np.zeros((len(sequences), maxlen), dtype=np.int32)
    for row, seq in enumerate(sequences):
        tail = seq[-maxlen:]
        if tail:
            out[row, maxlen - len(tail) :] = tail
    return out


def fingerprint_source(path: Path) -> str:
    """A content fingerprint of a data file, or of a folder's file names, sizes and times."""
    digest = hashlib.sha256()
    if path.is_file():
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return f"sha256:{digest.hexdigest()}"
    for file in sorted(p for p in path.rglob("*.txt") if _MEMBER.search(p.as_posix())):
        stat = file.stat()
        digest.update(f"{file.relative_to(path)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return f"tree:{digest.hexdigest()}"


Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _load_aclimdb_cached(settings: DataSettings) -> tuple[Arrays, str]:
    path = Path(settings.source).expanduser()
    if not path.exists():
        raise DataError(
            f"--data {settings.source}: no such file or folder "
            "(expected an aclImdb folder or .tar.gz, or 'imdb')"
        )
    if not os.access(path, os.R_OK):
        raise DataError(f"--data {settings.source}: not readable")
    fingerprint = fingerprint_source(path)
    key = hashlib.sha256(
        f"{fingerprint}|{settings.max_features}|{settings.maxlen}|v{ENCODING_VERSION}".encode()
    ).hexdigest()[:24]
    cache = settings.cache_dir / f"aclimdb-{key}.npz" if settings.cache_dir else None
    if cache is not None and cache.exists():
        with np.load(cache) as npz:
            arrays = (npz["x_train"], npz["y_train"], npz["x_test"], npz["y_test"])
        return arrays, fingerprint
    arrays = encode_aclimdb(path, settings.max_features, settings.maxlen)
    if cache is not None:
        _save_atomically(cache, arrays)
    return arrays, fingerprint


def encode_aclimdb(path: Path, max_features: int, maxlen: int) -> Arrays:
    """Reads an aclImdb folder or tarball and encodes it like ``keras.datasets.imdb``.

    Args:
        path: The folder (holding ``train/`` and ``test/``, or ``aclImdb/`` itself) or ``.tar.gz``.
        max_features: Vocabulary size (``num_words``).
        maxlen: Padded length.

    Returns:
        ``(x_train, y_train, x_test, y_test)``, each shuffled with Keras' IMDB seed.
    """
    reviews: dict[str, list[tuple[int, int, str]]] = {"train": [], "test": []}
    for split, label, review_id, text in _read_reviews(path):
        reviews[split].append((label, review_id, text))
    for split, items in reviews.items():
        if not items:
            raise DataError(
                f"--data {path}: no {split}/pos or {split}/neg reviews found "
                "(expected the aclImdb layout: aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt)"
            )
        # File order inside a tarball or folder is arbitrary: sort for a reproducible encoding.
        items.sort()
    train_words = [tokenize(text) for _, _, text in reviews["train"]]
    test_words = [tokenize(text) for _, _, text in reviews["test"]]
    word_index = build_word_index(train_words)  # training data only: the test set stays unseen
    arrays = []
    for split, words in (("train", train_words), ("test", test_words)):
        x = pad([encode(w, word_index, max_features) for w in words], maxlen)
        y = np.array([label for label, _, _ in reviews[split]], dtype=np.int8)
        order = np.random.RandomState(KERAS_IMDB_SEED).permutation(len(y))
        arrays += [x[order], y[order]]
    return arrays[0], arrays[1], arrays[2], arrays[3]


def _read_reviews(path: Path) -> Iterator[tuple[str, int, int, str]]:
    """Yields ``(split, label, id, text)`` for every labeled review under ``path``."""
    if path.is_dir():
        for file in path.rglob("*.txt"):
            match = _MEMBER.search(file.as_posix())
            if match:
                yield _parsed(match, file.read_bytes())
        return
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                match = _MEMBER.search(member.name)
                if match and member.isfile():
                    fh = tar.extractfile(member)
                    if fh is not None:
                        yield _parsed(match, fh.read())
    except (tarfile.TarError, EOFError, OSError) as exc:
        reason = str(exc).splitlines()[0].rstrip(":") if str(exc) else type(exc).__name__
        raise DataError(f"--data {path}: not a readable .tar.gz ({reason})") from None


def _parsed(match: re.Match[str], raw: bytes) -> tuple[str, int, int, str]:
    split, polarity, review_id, _rating = match.groups()
    return split, int(polarity == "pos"), int(review_id), raw.decode("utf-8", errors="replace")


def _save_atomically(cache: Path, arrays: Arrays) -> None:
    # Write beside the target and rename, so a crash never leaves a truncated cache behind.
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp")
    buffer = io.BytesIO()
    np.savez(buffer, x_train=arrays[0], y_train=arrays[1], x_test=arrays[2], y_test=arrays[3])
    tmp.write_bytes(buffer.getvalue())
    os.replace(tmp, cache)


def _load_keras_imdb(settings: DataSettings) -> tuple[Arrays, str]:
    # Imported here: Keras is slow to import and must see KERAS_BACKEND, set by the CLI first.
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.imdb.load_data(
            num_words=settings.max_features
        )
    except Exception as exc:  # the download surfaces as many exception types
        raise DataError(
            f"could not load keras.datasets.imdb ({type(exc).__name__}); "
            "pass --data PATH to an aclImdb folder or aclImdb .tar.gz instead"
        ) from None
    x_train = pad(list(x_train), settings.maxlen)
    x_test = pad(list(x_test), settings.maxlen)
    fingerprint = f"keras.datasets.imdb:keras-{keras.__version__}"
    return (
        x_train,
        np.asarray(y_train, np.int8),
        x_test,
        np.asarray(y_test, np.int8),
    ), fingerprint
