"""Fixed configurations trained R times each: the confirmation and the reproduction."""
