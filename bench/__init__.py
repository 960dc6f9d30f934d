"""Benchmarks, run as one command: `python -m bench` (see bench/README.md). Not run in CI."""
