"""One trial: the objective that trains and records it, its pruning, directions and artifacts."""
