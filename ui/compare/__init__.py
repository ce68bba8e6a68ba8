"""The Compare tab: similarity matrices, best matches and projections of uploaded items, and the one-space view."""
