"""Foundations every stage shares: exceptions, atomic files, strict JSON, safe names, output hygiene, settings."""
