"""The study: three commands and the Optuna side, by room.

``optimize``, ``confirm`` and ``reproduce`` are the commands; ``setup`` creates or resumes a study,
``trials`` runs one trial, ``workers`` runs trials until the target, ``reruns`` trains fixed
configurations R times, and ``training`` is the engine, which never imports Optuna. Keras is
imported lazily, after a command has chosen the backend.
"""
