"""The benchmark harness: ``python bench/run.py``; see run.py."""
