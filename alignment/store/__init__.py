"""What persists user work: hand tags on errors, per owner, in SQLite (`tags`); the old JSON files (`legacy`)."""
