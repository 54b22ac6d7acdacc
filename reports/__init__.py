"""Reports built from a stored study: tables, findings and plots. Never imports Keras."""
