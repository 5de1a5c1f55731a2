"""The core app's HTTP API routers (mounted in ``steelyard/api.py``)."""
