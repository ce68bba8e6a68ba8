"""Widgets shared by several tabs: the clickable similarity matrix and the pair handed to Explain."""
