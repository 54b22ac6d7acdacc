"""The training engine: where a model trains.

Data loading and encoding (``data``), the model builder (``model``) with the Keras 2 LSTM
(``keras2_lstm``) and its hand-written scan (``lstm_scan``), the trainer of a configuration's
seeds (``trainer``) and its settings (``settings``), the Keras backend choice (``backend``, with
``quiet`` keeping TensorFlow's start-up lines off the terminal), seed derivation (``seeds``) and
the non-recurrent reference models (``reference``, scikit-learn on a ``Dataset``).

This package never imports Optuna, and imports nothing from ``study`` outside itself nor from
``reports`` (tests/test_layering.py): the Optuna side in ``study/`` calls it, never the reverse.
Keras is imported lazily by the modules that need it, after the CLI has chosen the backend.
"""
