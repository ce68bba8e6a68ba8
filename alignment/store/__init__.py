"""What persists user work: hand tags on alignment errors."""
