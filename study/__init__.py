"""The study: CLI, data, model building, training and the Optuna objective.

Keras is imported lazily by the modules that need it, after the CLI has chosen the backend.
"""
