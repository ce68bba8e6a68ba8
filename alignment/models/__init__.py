"""Models: settings and presets, the encoder factory, tiny models, devices, the embedding cache, embedding."""
