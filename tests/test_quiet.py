"""A quiet terminal: TensorFlow stays unimported under JAX, and its start-up lines are filtered."""

from __future__ import annotations

import os
import subprocess
import sys

from study.training.quiet import ABSL_BANNER, kept_lines
from tests.conftest import ROOT

# Lines TensorFlow 2.21 printed on this project's CPU machine before any line of ours.
ONEDNN = (
    "I0000 00:00:1795914219.399071   14409 port.cc:153] oneDNN custom operations are on. You may "
    "see slightly different numerical results due to floating-point round-off errors."
)
NO_CUDA = (
    "I0000 00:00:1795914219.400164   14409 cudart_stub.cc:31] Could not find cuda drivers on "
    "your machine, GPU will not be used."
)
CUINIT = (
    "E0000 00:00:1795914350.439722   15030 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
    "CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)"
)
OLD_STYLE_WARNING = (
    "2025-09-17 14:44:05.228000: W tensorflow/compiler/tf2tensorrt/utils/py_utils.cc:38] "
    "TF-TRT Warning: Could not find TensorRT"
)
CPU_GUARD = (
    "I0000 00:00:1795914316.167551   14965 cpu_feature_guard.cc:227] This TensorFlow binary is "
    "optimized to use available CPU instructions in performance-critical operations."
)
CPU_GUARD_2 = "To enable the following instructions: AVX2 FMA, in other operations, rebuild TF."
REAL_ERROR = (
    "E0000 00:00:1795914350.5   15030 bfc_allocator.cc:479] Allocator (GPU_0_bfc) ran out of "
    "memory trying to allocate 2.0GiB"
)
STARTUP = [ABSL_BANNER, ONEDNN, NO_CUDA, CPU_GUARD, CPU_GUARD_2, OLD_STYLE_WARNING, CUINIT]


def test_start_up_noise_is_dropped_at_the_default_level() -> None:
    assert kept_lines(STARTUP, min_level=2, gpu_driver=False) == []


def test_what_matters_is_kept() -> None:
    ours = [
        "warning: this data differs from the study's",
        "UserWarning: something Python warns about",
        REAL_ERROR,
        "To enable the following instructions: a line of ours after a kept line",
    ]
    assert kept_lines([ONEDNN, *ours], min_level=2, gpu_driver=False) == ours
    # With an NVIDIA driver present, a failed cuInit means a broken GPU set-up: shown.
    assert kept_lines(STARTUP, min_level=2, gpu_driver=True) == [CUINIT]
    # Warnings are shown at level 1; level 0 (TensorFlow's "everything") keeps every line.
    assert kept_lines(STARTUP, min_level=1, gpu_driver=True) == [OLD_STYLE_WARNING, CUINIT]
    assert kept_lines(STARTUP, min_level=0, gpu_driver=False) == STARTUP


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **env},
        capture_output=True, text=True,
    )  # fmt: skip


def test_the_filter_writes_back_native_and_python_lines_that_matter() -> None:
    code = (
        "import os, sys, warnings\n"
        "from study.training.quiet import filtered_native_stderr\n"
        "print('before', file=sys.stderr)\n"
        "with filtered_native_stderr():\n"
        f"    os.write(2, {ABSL_BANNER + chr(10) + ONEDNN + chr(10) + REAL_ERROR + chr(10)!r}"
        ".encode())\n"  # as C++ writes
        "    warnings.warn_explicit('kept', UserWarning, 'f.py', 1)\n"
        "    print('also kept', file=sys.stderr)\n"
        "print('after', file=sys.stderr)\n"
        "with filtered_native_stderr():\n"
        "    raise ImportError('no module')\n"
    )
    result = run_python(code, TF_CPP_MIN_LOG_LEVEL="2")
    lines = result.stderr.splitlines()
    assert lines[:5] == ["before", REAL_ERROR, "f.py:1: UserWarning: kept", "also kept", "after"]
    # An exception inside still restores stderr: its traceback reaches the terminal.
    assert lines[-1] == "ImportError: no module"


def test_seeding_under_jax_does_not_import_tensorflow() -> None:
    """Keras' set_random_seed imported TensorFlow under JAX (its "seed TF if installed")."""
    code = (
        "import random, sys\n"
        "import numpy as np\n"
        "from study.training.backend import select_backend, set_random_seed\n"
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
