"""Creating or resuming a study: flags, recorded settings and resume checks, sampler and pruner.

Also the notebook's baselines and the reference models. No Keras here.
"""
