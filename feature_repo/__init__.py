"""Feast feature repository: the one contract every other component reads."""
