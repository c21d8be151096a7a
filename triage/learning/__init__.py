"""Continuous learning: retrain on agents' decisions, gate, promote, shadow, roll back.

services.py holds the writes (where a training is requested and run), selectors.py
the reads for the models page, broadcast.py the live progress, views.py the page.
"""
