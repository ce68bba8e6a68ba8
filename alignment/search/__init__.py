"""Gallery search across modalities: queries, galleries, FAISS index folders, and the `search` call.

from alignment.search import Query, examples_galleries, search
galleries = examples_galleries(encoders, bridge=space.bridge)
result = search(galleries, Query.of(image="cat.jpg", text="at night", weights={"text": 0.5}),
                encoders=encoders, bridge=space.bridge, targets=["image"], k=5)
"""

from __future__ import annotations

from .correction import HubnessCorrection, bank_modality, hubness_correction
from .engine import GapNote, Hit, SearchResult, choose_gallery, search
from .folder import index_gallery, load_gallery, save_gallery
from .galleries import dataset_galleries, examples_galleries, infer_backbone, space_of
from .gallery import EXACT_MAX, Correction, Found, Gallery, Items, Space, gallery_from_embedded
from .query import Query, QueryPart, QueryVector, UsedPart, combine, embed_query

__all__ = [
    "EXACT_MAX",
    "Correction",
    "Found",
    "Gallery",
    "GapNote",
    "Hit",
    "HubnessCorrection",
    "Items",
    "Query",
    "QueryPart",
    "QueryVector",
    "SearchResult",
    "Space",
    "UsedPart",
    "bank_modality",
    "choose_gallery",
    "combine",
    "dataset_galleries",
    "embed_query",
    "examples_galleries",
    "hubness_correction",
    "gallery_from_embedded",
    "index_gallery",
    "infer_backbone",
    "load_gallery",
    "save_gallery",
    "search",
    "space_of",
]
