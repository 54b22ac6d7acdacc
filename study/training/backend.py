"""Chooses the Keras backend before Keras is imported, seeds it, names the device a trial ran on.

``KERAS_BACKEND`` is read once, when Keras is first imported, so the CLI calls ``select_backend``
before importing anything that imports Keras (worker processes inherit the variable).

Under the JAX backend nothing of ours needs TensorFlow: Keras feeds NumPy arrays to JAX through
its own iterator, without ``tf.data``. The one thing that imported it was
``keras.utils.set_random_seed`` (to seed TensorFlow too, "if installed"); ``set_random_seed``
here seeds the same things without that import. Under the TensorFlow backend the import is the
backend itself, so ``select_backend`` installs ``quiet``'s filter for its start-up lines.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import platform
import sys
from pathlib import Path

from study.training.quiet import filtered_native_stderr, install_tensorflow_import_filter

BACKENDS = ("jax", "tensorflow")


def resolve_backend(name: str) -> str:
    """Turns ``auto`` into a concrete backend; passes an explicit one through.

    ``auto`` prefers JAX: on the CPUs we measured it trains the notebook's models several times
    faster than TensorFlow (benchmarks/README.md, "Backends").
    """
    if name != "auto":
        return name
    return "jax" if importlib.util.find_spec("jax") is not None else "tensorflow"


#: Most bytes JAX's persistent compilation cache keeps (least recently used entries go first).
COMPILATION_CACHE_BYTES = 1 << 30


def select_backend(name: str, compilation_cache: Path | None = None) -> str:
    """Sets ``KERAS_BACKEND`` for this process and its children; returns the backend chosen.

    Args:
        name: ``auto``, ``jax`` or ``tensorflow``.
        compilation_cache: A folder for JAX's persistent compilation cache, or None. A program
            compiled once (the same model and shapes: a baseline rerun, a confirmation's
            repeats, the initializers every model shares) is then read back instead of compiled
            again, in this process and the next.
    """
    backend = resolve_backend(name)
    os.environ["KERAS_BACKEND"] = backend
    if compilation_cache is not None and backend == "jax":
        # Read by JAX at import, so set before anything imports it (workers inherit them).
        os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(compilation_cache))
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
        os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(COMPILATION_CACHE_BYTES))
    # TensorFlow's C++ info and warning lines (CUDA probing, oneDNN notices) stay off the user's
    # terminal unless they ask for them; its errors stay. The lines it prints while loading
    # ignore this variable, so the import filter applies it to them (study/training/quiet.py).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    install_tensorflow_import_filter()
    # On a GPU, take memory as needed instead of all of it up front, so several worker processes
    # (each a trial) can share one device. Both are read at import, so they are set here; worker
    # processes inherit them. TensorFlow's variable is its set_memory_growth for every GPU.
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    return backend


def device_name() -> str:
    """The accelerator Keras trains on, e.g. ``GPU: NVIDIA H200``, else ``CPU: <model>``."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform != "cpu":
            return f"{device.platform.upper()}: {device.device_kind}"
    elif backend == "tensorflow":
        import tensorflow as tf

        with filtered_native_stderr():  # a machine without GPU logs a failed cuInit here
            gpus = tf.config.list_physical_devices("GPU")
        for gpu in gpus:
            # RuntimeError: the GPU is initialized already, TF_FORCE_GPU_ALLOW_GROWTH did it.
            with contextlib.suppress(RuntimeError):
                tf.config.experimental.set_memory_growth(gpu, True)
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            return f"GPU: {details.get('device_name', gpus[0].name)}"
    return f"CPU: {_cpu_model()}"


def set_random_seed(seed: int) -> None:
    """Seeds Python, NumPy and Keras as ``keras.utils.set_random_seed`` does, same values.

    Keras' function also seeds TensorFlow, for ``tf.data`` pipelines, and imports TensorFlow to
    find out whether it is installed: under JAX that import took seconds and printed TensorFlow's
    start-up lines before the first trial, for a seed nothing here uses. So unless TensorFlow is
    the backend (or already imported), Keras is told it is absent: ``None`` in ``sys.modules``
    makes the import fail, which Keras' lazy module takes for "not installed" and remembers for
    the rest of the process.
    """
    import keras

    if keras.backend.backend() == "tensorflow" or "tensorflow" in sys.modules:
        keras.utils.set_random_seed(seed)
        return
    sys.modules["tensorflow"] = None  # type: ignore[assignment]
    try:
        keras.utils.set_random_seed(seed)
    finally:
        del sys.modules["tensorflow"]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
