from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from study.training import data as data_mod
from study.training.data import (
    OOV_CHAR,
    DataError,
    DataSettings,
    balanced_subset,
    build_word_index,
    encode,
    encode_aclimdb,
    load_dataset,
    pad,
    stratified_split,
    tokenize,
)


def test_tokenize_follows_keras_rules_and_keeps_br() -> None:
    assert tokenize("Great film!<br /><br />It's GOOD, isn't it?") == [
        "great", "film", "br", "br", "it's", "good", "isn't", "it",
    ]  # fmt: skip


def test_word_index_ranks_by_frequency_from_one() -> None:
    index = build_word_index([["b", "a", "b"], ["c", "b", "a"]])
    assert index == {"b": 1, "a": 2, "c": 3}


def test_encode_uses_keras_offsets() -> None:
    index = {"the": 1, "movie": 2, "rare": 5000}
    # start=1, index_from=3, out-of-vocabulary (unknown or beyond num_words) = 2
    assert encode(["the", "movie", "rare", "unseen"], index, num_words=1000) == [1, 4, 5, 2, 2]


def test_pad_prepads_and_keeps_the_last_tokens() -> None:
    out = pad([[1, 2, 3, 4, 5], [7]], maxlen=3)
    assert out.tolist() == [[3, 4, 5], [0, 0, 7]]
    assert out.dtype == np.int32


def test_folder_and_tarball_encode_identically(tiny_imdb: Path, tiny_tarball: Path) -> None:
    a = encode_aclimdb(tiny_imdb, 1000, 40)
    b = encode_aclimdb(tiny_tarball, 1000, 40)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    x_train, y_train, x_test, y_test = a
    assert x_train.shape == (200, 40) and x_test.shape == (100, 40)
    assert y_train.sum() == 100 and y_test.sum() == 50


def test_vocabulary_comes_from_training_reviews_only(tmp_path: Path) -> None:
    from tests.conftest import make_aclimdb

    root = make_aclimdb(tmp_path, n_train=4, n_test=2)
    (root / "test" / "pos" / "0_10.txt").write_text("zyzzyva " * 50)
    _, _, x_test, _ = encode_aclimdb(root, 1000, 80)
    # A word seen only in the test set is out-of-vocabulary, however frequent it is there.
    assert (x_test == 2).sum() >= 50


def test_second_load_reads_the_cache(
    tiny_tarball: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = DataSettings(source=str(tiny_tarball), maxlen=40, cache_dir=tmp_path)
    first = load_dataset(settings)
    assert len(list(tmp_path.glob("aclimdb-*.npz"))) == 1

    def no_encoding(*args: object) -> None:
        raise AssertionError("encoded again instead of reading the cache")

    monkeypatch.setattr(data_mod, "encode_aclimdb", no_encoding)
    second = load_dataset(settings)
    np.testing.assert_array_equal(first.x_train, second.x_train)
    np.testing.assert_array_equal(first.x_test, second.x_test)
    assert first.fingerprint == second.fingerprint


def test_split_is_stratified_seeded_and_disjoint(tiny_imdb: Path) -> None:
    settings = DataSettings(source=str(tiny_imdb), val_split=0.25, seed=3)
    a, b = load_dataset(settings), load_dataset(settings)
    np.testing.assert_array_equal(a.x_val, b.x_val)
    assert a.sizes() == {"train": 150, "val": 50, "test": 100}
    assert a.y_val.sum() == 25 and a.y_train.sum() == 75


def test_stratified_split_indices_partition_the_data() -> None:
    labels = np.array([0] * 10 + [1] * 30)
    train, val = stratified_split(labels, 0.2, np.random.default_rng(0))
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(40))
    assert labels[val].tolist().count(1) == 6 and labels[val].tolist().count(0) == 2


def test_limits_take_balanced_subsets(tiny_imdb: Path) -> None:
    ds = load_dataset(DataSettings(source=str(tiny_imdb), limit_train=41, limit_test=10))
    assert len(ds.y_train) + len(ds.y_val) == 41
    assert abs(int(ds.y_train.sum() + ds.y_val.sum()) * 2 - 41) == 1
    assert len(ds.y_test) == 10 and ds.y_test.sum() == 5


def test_limit_larger_than_data_is_one_line_error(tiny_imdb: Path) -> None:
    with pytest.raises(DataError, match=r"--limit-train 999 is larger than the 200 reviews"):
        load_dataset(DataSettings(source=str(tiny_imdb), limit_train=999))


def test_balanced_subset_is_seeded() -> None:
    labels = np.array([0, 1] * 50)
    a = balanced_subset(labels, 10, np.random.default_rng(1))
    b = balanced_subset(labels, 10, np.random.default_rng(1))
    assert a.tolist() == b.tolist() and labels[a].sum() == 5


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing", "no such file or folder"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "no train/pos or train/neg reviews"),
        (
            lambda p: (p / "x.tar.gz").write_bytes(b"not a tarball") and p / "x.tar.gz",
            "not a readable",
        ),
    ],
    ids=["missing", "wrong-layout", "not-a-tarball"],
)
def test_bad_data_paths_are_one_line_errors(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(DataError, match=message) as info:
        load_dataset(DataSettings(source=str(make(tmp_path)), cache_dir=None))
    assert "\n" not in str(info.value)


def test_real_tarball_shapes_and_cache_round_trip(real_tarball: Path, tmp_path: Path) -> None:
    settings = DataSettings(source=str(real_tarball), cache_dir=tmp_path)
    first = load_dataset(settings)
    assert len(first.y_train) + len(first.y_val) == 25_000
    assert first.x_test.shape == (25_000, 80)
    assert first.y_test.sum() == 12_500
    assert first.y_train.sum() + first.y_val.sum() == 12_500
    assert first.x_train.max() == 999 and first.x_train.min() == 0
    second = load_dataset(settings)
    np.testing.assert_array_equal(first.x_train, second.x_train)
    np.testing.assert_array_equal(first.y_test, second.y_test)


def test_limit_test_leaves_the_training_and_validation_reviews_alone(tiny_imdb: Path) -> None:
    def load(limit_test: int | None):
        return load_dataset(
            DataSettings(source=str(tiny_imdb), limit_train=120, limit_test=limit_test, seed=4)
        )

    base = load(None)
    for limit_test in (10, 60):
        other = load(limit_test)
        assert len(other.y_test) == limit_test
        np.testing.assert_array_equal(other.x_val, base.x_val)
        np.testing.assert_array_equal(other.y_val, base.y_val)
        np.testing.assert_array_equal(other.x_train, base.x_train)


def test_split_without_limits_is_the_one_earlier_versions_made(tiny_imdb: Path) -> None:
    # Studies made before the subsets got their own streams must resume on the same split.
    x_train, y_train, _, _ = encode_aclimdb(tiny_imdb, 1000, 80)
    train_idx, val_idx = stratified_split(y_train, 0.2, np.random.default_rng(7))
    ds = load_dataset(DataSettings(source=str(tiny_imdb), seed=7, cache_dir=None))
    np.testing.assert_array_equal(ds.x_val, x_train[val_idx])
    np.testing.assert_array_equal(ds.x_train, x_train[train_idx])


@pytest.mark.parametrize("seed", [-1, -(2**40), 2**40, 2**70])
def test_every_integer_seed_gives_a_reproducible_split(tiny_imdb: Path, seed: int) -> None:
    settings = DataSettings(source=str(tiny_imdb), seed=seed, limit_train=100, limit_test=20)
    a, b = load_dataset(settings), load_dataset(settings)
    np.testing.assert_array_equal(a.x_val, b.x_val)
    assert a.sizes() == {"train": 80, "val": 20, "test": 20}
    other = load_dataset(DataSettings(source=str(tiny_imdb), seed=-seed, limit_train=100))
    assert not np.array_equal(a.x_val, other.x_val)  # -s and s are different seeds


#: ``keras.datasets.imdb.load_data(num_words=10000)`` training review 0, the most printed IMDB
#: array there is (Chollet, Deep Learning with Python, 3.4; countless tutorials): aclImdb
#: train/pos/576_10.txt, "this film was just brilliant,casting,location scenery,story,...".
#: Ids are word ranks + 3; 2 marks a word outside the top 10,000.
KERAS_TRAIN_0 = [
    1, 14, 22, 16, 43, 530, 973, 1622, 1385, 65, 458, 4468, 66, 3941, 4, 173, 36, 256, 5, 25, 100,
    43, 838, 112, 50, 670, 2, 9, 35, 480, 284, 5, 150, 4, 172, 112, 167, 2, 336, 385, 39, 4, 172,
    4536, 1111, 17, 546, 38, 13, 447, 4, 192, 50, 16, 6, 147, 2025, 19, 14, 22, 4, 1920, 4613, 469,
    4, 22, 71, 87, 12, 16, 43, 530, 38, 76, 15, 13, 1247, 4, 22, 17, 515, 17, 12, 16, 626, 18, 2,
    5, 62, 386, 12, 8, 316, 8, 106, 5, 4, 2223, 5244, 16, 480, 66, 3785, 33, 4, 130, 12, 16, 38,
    619, 5, 25, 124, 51, 36, 135, 48, 25, 1415, 33, 6, 22, 12, 215, 28, 77, 52, 5, 14, 407, 16, 82,
    2, 8, 4, 107, 117, 5952, 15, 256, 4, 2, 7, 3766, 5, 723, 36, 71, 43, 530, 476, 26, 400, 317,
    46, 7, 4, 2, 1029, 13, 104, 88, 4, 381, 15, 297, 98, 32, 2071, 56, 26, 141, 6, 194, 7486, 18,
    4, 226, 22, 21, 134, 476, 26, 480, 5, 144, 30, 5535, 18, 51, 36, 28, 224, 92, 25, 104, 4, 226,
    65, 16, 38, 1334, 88, 12, 16, 283, 5, 16, 4472, 113, 103, 32, 15, 16, 5345, 19, 178, 32,
]  # fmt: skip


def test_encoding_matches_keras_on_the_review_keras_puts_first(real_tarball: Path) -> None:
    maxlen = 250
    x_train, _, _, _ = encode_aclimdb(real_tarball, 1000, maxlen)
    keras_1000 = np.array([i if i < 1000 else OOV_CHAR for i in KERAS_TRAIN_0])  # num_words=1000
    n = len(keras_1000)
    # Our encoding of that review is the row that agrees with it most (rows are shuffled).
    agree = (x_train[:, maxlen - n :] == keras_1000).sum(axis=1)
    ours = x_train[int(np.argmax(agree))]
    assert (ours[: maxlen - n] == 0).all() and ours[maxlen - n] == 1  # same length: tokenizer
    ours = ours[maxlen - n :]
    # "this film was just brilliant": the most frequent words have Keras' very ranks
    np.testing.assert_array_equal(ours[:6], [1, 14, 22, 16, 43, 530])
    # The same 1,000-word vocabulary: the same words are out of it.
    np.testing.assert_array_equal(ours == OOV_CHAR, keras_1000 == OOV_CHAR)
    # 7 of 218 words sit a place or three from Keras' ranks (e.g. "if" 44th here, 45th in
    # Keras' index; "casting" 967th and 970th); every other id is Keras' own.
    assert (ours == keras_1000).mean() > 0.95
