"""Running trials until the target, in one process or many; stopping; owners; progress."""
