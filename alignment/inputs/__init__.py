"""Inputs: decode and validate texts, images, audio, paired-dataset manifests, archives and embedding files."""
