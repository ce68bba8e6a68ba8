"""The Alignment errors tab: evaluate a paired dataset, walk through its errors, tag them."""
