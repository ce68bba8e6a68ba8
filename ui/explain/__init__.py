"""The Explain tab: relevance maps for one pair, and the attention viewer."""
