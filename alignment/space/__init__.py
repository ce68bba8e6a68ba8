"""One space: the CLAP -> CLIP bridge, fusion heads, their contrastive training and their checkpoints."""
