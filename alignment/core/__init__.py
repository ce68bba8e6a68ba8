"""Foundations every stage shares: the library's exceptions, atomic file writes and strict JSON."""
