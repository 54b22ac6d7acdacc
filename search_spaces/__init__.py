"""What the study searches: the model configuration, its Optuna search space and the notebook grid.

This package never imports Keras or TensorFlow, so that ``--help``, reports and the sampler side of
the study stay fast. ``ModelConfig`` itself does not import Optuna either: the model builder takes
it without ever seeing a trial.
"""

from __future__ import annotations

from search_spaces.config import ModelConfig, ModelSpec

__all__ = ["ModelConfig", "ModelSpec"]
