"""Benchmarks of the Taskhive stack (`make bench` runs `python -m bench.run`)."""
