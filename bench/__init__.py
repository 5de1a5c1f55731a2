"""Benchmarks at scale, outside the test suite.

``python -m bench NAME [args]`` (from the repo root) builds or reuses the data set for the scale,
runs the benchmark ``bench/NAME.py`` and prints a human-readable table followed by ONE JSON line,
every key ending in its unit (``_ms``, ``_s``, ``_per_s``; plain counts have no unit).

Scales: ``S`` = the demo; ``M`` = 10k customers, 100k order lines, 20k opportunities;
``L`` (the default) = 100k customers, 1M order lines, 200k opportunities, 500 users.
Modules grow their share of each scale through their ``demo.py`` seeders (see ``steelyard.core.demo``).
"""
