"""Gradio tabs of the app: layout and event wiring only; every computation is a call into `alignment`."""
