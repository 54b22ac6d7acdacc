"""Benchmarks: scripts that print a Markdown table and write JSON; see benchmarks/README.md."""
