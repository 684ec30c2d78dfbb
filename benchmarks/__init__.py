"""The benchmark suite (``make bench``): a Django project of its own, and ``run.py``."""
