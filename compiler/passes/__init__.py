"""Compiler passes, one per file, composed in `pipeline.py`."""
