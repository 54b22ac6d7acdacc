"""A quiet terminal: TensorFlow stays unimported under JAX."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **env},
        capture_output=True, text=True,
    )  # fmt: skip


def test_seeding_under_jax_does_not_import_tensorflow() -> None:
    """Keras' set_random_seed imported TensorFlow under JAX (its "seed TF if installed")."""
    code = (
        "import random, sys\n"
        "import numpy as np\n"
        "from study.backend import select_backend, set_random_seed\n"
        "select_backend('jax')\n"
        "import keras\n"
        "def draw():\n"
        "    return (random.random(), float(np.random.rand()),\n"
        "            float(keras.random.uniform((1,))[0]))\n"
        "set_random_seed(7)\n"
        "ours = draw()\n"
        "keras.utils.set_random_seed(7)\n"
        "assert draw() == ours, 'seeded differently from Keras'\n"
        "set_random_seed(8)\n"
        "assert draw() != ours\n"
        "print('tensorflow' in sys.modules)\n"
    )
    result = run_python(code, KERAS_BACKEND="jax")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["False"]
    assert result.stderr == ""
