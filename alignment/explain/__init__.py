"""Explanations: relevance over image patches, text tokens and audio time, attention maps, and faithfulness."""
