"""Rendering saved or fresh results: terminal tables, plots, HTML, CSV, all from one column spec.

Depends on `trtpace.results` only: a report never runs anything.
"""
