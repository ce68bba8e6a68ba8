"""Cross-Modal Alignment Explorer library: load inputs, embed them with CLIP and CLAP, and score how they align."""

from .cache import EmbeddingCache
from .compare import Comparison, compare
from .config import Limits, Settings, parse_settings, settings_for
from .data import Item, Loaded, load_files, load_texts
from .embed import EmbedStats, embed_items
from .encoders import ClapEncoder, ClipEncoder, Encoders, load_encoder, load_encoders
from .errors import InputError, ModelUnavailableError
from .projection import Projection, project
from .similarity import Match, Scores, best_matches

__all__ = [
    "ClapEncoder", "ClipEncoder", "Comparison", "EmbedStats", "EmbeddingCache", "Encoders", "InputError", "Item",
    "Limits", "Loaded", "Match", "ModelUnavailableError", "Projection", "Scores", "Settings", "best_matches",
    "compare", "embed_items", "load_encoder", "load_encoders", "load_files", "load_texts", "parse_settings",
    "project", "settings_for",
]
