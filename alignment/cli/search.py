"""`python -m alignment search` (query a gallery by text, image, sound or a mix) and `index` (build an index folder).

    python -m alignment index embeddings.npz --out gallery/ [--kind auto|flat|ivf|hnsw] [--space clip|clap]
    python -m alignment search --index gallery/ --text "a dog at night" -k 10 [--out result.json]
    python -m alignment search --gallery examples --image cat.jpg --text "at night" --weights text=0.5 --target image
    python -m alignment search --gallery embeddings.npz --audio siren.flac --target image

`--gallery` searches without a prebuilt index: `examples` (the bundled photos, sounds and captions), an
embeddings file or shard folder (exact search up to EXACT_MAX items per modality, an in-memory FAISS flat index
beyond), or a manifest / folder / zip embedded on the fly. Only the towers the query needs are loaded.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import InputError
from ..core.files import write_json
from ..inputs.items import MODALITIES
from ..models.settings import Settings, add_arguments, default_cache_dir, settings_from
from .common import Log, add_run_flags, load_models

if TYPE_CHECKING:
    from ..models.encoders import Encoders
    from ..search import Correction, Gallery, Query, SearchResult
    from ..space.bridge import Bridge

CORPUS = Path(__file__).resolve().parents[2] / "assets" / "corpus" / "captions.txt"
BRIDGE_CAPTIONS = 1_000  # captions the bridge is fitted on when none is given (as the app does on CPU)
BIG_FILES = dict(max_rows=100_000_000, max_file_mb=1_000_000.0)  # a local gallery file: the user's own data


# ---------------------------------------------------------------------------- index


def run_index(args: argparse.Namespace, log: Log) -> int:
    """Build an index folder from an embeddings file or shard folder."""
    from ..analysis.index import IndexSettings
    from ..inputs.embeddings import EmbeddingLimits, load_embeddings
    from ..search import Space, index_gallery, infer_backbone, save_gallery

    source = Path(args.source)
    if not source.exists():
        raise InputError(str(source), "no such embeddings file or shard folder")
    log(f"Reading {source}")
    embedded = load_embeddings(source, require_pairs=False, limits=EmbeddingLimits(**BIG_FILES))  # type: ignore[arg-type]
    backbone = args.space or infer_backbone(embedded.modality)
    space = Space(backbone, embedded.dim, args.model, args.revision)
    settings = IndexSettings(
        kind=args.kind, target_recall=args.target_recall, recall_queries=args.recall_queries, seed=args.seed
    )
    log(f"Indexing {len(embedded):,} items ({space.describe()})")
    gallery = index_gallery(embedded, space=space, settings=settings, name=source.name)
    out = save_gallery(gallery, args.out, source=str(source))
    for modality, part in gallery.parts.items():
        print(f"{modality:<6} {part.searcher.describe()}, built in {getattr(part.searcher, 'build_seconds', 0):.1f} s")
    print(f"wrote {out}")
    return 0


# ---------------------------------------------------------------------------- search


def parse_weights(given: list[str] | None) -> dict[str, float]:
    """['text=0.5', 'image=1'] -> {'text': 0.5, 'image': 1.0}; ValueError names the bad entry."""
    out: dict[str, float] = {}
    for entry in given or []:
        name, sep, value = entry.partition("=")
        if not sep or name not in MODALITIES:
            raise ValueError(f"--weights: '{entry}' must be MODALITY=NUMBER with MODALITY text, image or audio")
        try:
            out[name] = float(value)
        except ValueError:
            raise ValueError(f"--weights: '{entry}' has no number after '='") from None
    return out


def _towers(settings: Settings, roles: set[str], log: Log) -> Encoders:
    """Load only the named towers (load_models loads CLIP for text + image, CLAP for text + audio)."""
    present = {"text"} | {"image" for r in roles if r == "clip"} | {"audio" for r in roles if r == "clap"}
    return load_models(settings, present, log)[0]


def _bridge(args: argparse.Namespace, encoders: Encoders, settings: Settings, log: Log) -> Bridge:
    """A saved bridge (--bridge), else the app's shared space: fitted on the caption corpus once, then cached."""
    from ..models.cache import EmbeddingCache
    from ..space.bridge import load_bridge
    from ..space.shared import shared_space

    if args.bridge:
        return load_bridge(args.bridge)
    root = Path(settings.cache_dir) if settings.cache_dir else default_cache_dir()
    log(f"Loading or fitting the CLAP -> CLIP bridge on {args.bridge_captions} captions of {Path(args.corpus).name}")
    space = shared_space(
        encoders,
        args.corpus,
        root=root,
        cache=None if args.no_cache else EmbeddingCache(root / "embeddings"),
        max_captions=args.bridge_captions,
        progress=log.progress,
    )
    log(space.describe())
    return space.bridge


def _one_space_needs(backbone: str, query: set[str]) -> tuple[set[str], bool]:
    """(towers, bridge?) for a query in a gallery of one space; its audio, if any, is in that space already."""
    if backbone == "clap":
        return {"clap"}, False  # an image query is refused by `search`, with the reason
    roles = {"clip"} if query & {"text", "image"} else set()
    return roles | ({"clap"} if "audio" in query else set()), "audio" in query


def _meets_in_clip(query: set[str], targets: set[str] | None) -> bool:
    """Whether images and audio meet in this search (so a collection's audio must be bridged into CLIP space)."""
    return {"image", "audio"} <= query | (targets or set(MODALITIES))


Found = tuple[dict[str, "Gallery"], "Encoders", "Bridge | None"]


def _galleries(
    args: argparse.Namespace, settings: Settings, query: set[str], targets: set[str] | None, log: Log
) -> Found:
    """(galleries, encoders, bridge): the gallery read or embedded, with only the towers and bridge it needs."""
    from ..inputs.embeddings import EmbeddingLimits, load_embeddings
    from ..models.sources import is_embeddings, read_dataset
    from ..search import Space, dataset_galleries, examples_galleries, infer_backbone, load_gallery

    path = Path(args.index or args.gallery)
    if args.index or (path.is_dir() and (path / "index.json").is_file()):
        log(f"Reading the index folder {path}")
        return _one_space(load_gallery(path), args, settings, query, log)
    if args.gallery == "examples":
        encoders = _towers(settings, {"clip", "clap"}, log)
        bridge = _bridge(args, encoders, settings, log) if _meets_in_clip(query, targets) else None
        log("Embedding the bundled examples")
        return examples_galleries(encoders, bridge=bridge), encoders, bridge
    if not path.exists():
        raise InputError(
            str(path),
            "no such gallery: give an index folder, an embeddings file or shard folder, a manifest / folder / zip, "
            "or 'examples'",
        )
    if is_embeddings(path) or (path.is_dir() and not _has_manifest(path)):
        log(f"Reading embeddings {path.name} (searched without an index)")
        embedded = load_embeddings(path, require_pairs=False, limits=EmbeddingLimits(**BIG_FILES))  # type: ignore[arg-type]
        space = Space(args.space or infer_backbone(embedded.modality), embedded.dim)
        (gallery,) = dataset_galleries({path.name: embedded}, precomputed=space).values()
        return _one_space(gallery, args, settings, query, log)
    encoders = _towers(settings, {"clip", "clap"}, log)
    data = read_dataset(path, lambda present: (encoders, encoders.describe()), progress=log.progress)
    for problem in data.problems:
        log.skipped(problem)
    bridge = _bridge(args, encoders, settings, log) if _meets_in_clip(query, targets) else None
    galleries = dataset_galleries(
        data.spaces, models=data.models, items=data.items, bridge=bridge, name=data.dataset.get("name")
    )
    return galleries, encoders, bridge


def _has_manifest(folder: Path) -> bool:
    return any(folder.glob("*.csv")) or any(folder.glob("*.jsonl"))


def _one_space(gallery: Gallery, args: argparse.Namespace, settings: Settings, query: set[str], log: Log) -> Found:
    roles, bridged = _one_space_needs(gallery.space.backbone, query)
    if bridged and not args.bridge:
        roles |= {"clip", "clap"}  # fitting the bridge reads the captions with both text towers
    encoders = _towers(settings, roles, log)
    return {gallery.space.backbone: gallery}, encoders, _bridge(args, encoders, settings, log) if bridged else None


def run_search(args: argparse.Namespace, log: Log) -> int:
    """Embed the query with the towers it needs, search, print a table, write JSON with --out."""
    from ..search import Query, search

    weights = parse_weights(args.weights)
    query = Query.of(text=args.text, image=args.image, audio=args.audio, weights=weights)
    if not query.parts:
        raise ValueError("give a query: --text, --image and/or --audio")
    for part in query.parts:
        if part.modality != "text" and not Path(part.content).is_file():  # type: ignore[arg-type]
            raise InputError(str(part.content), f"no such {part.modality} file")
    if args.out and Path(args.out).suffix.lower() != ".json":
        raise InputError(args.out, "--out must be a .json file")
    settings = settings_from(args)
    targets = set(args.target) if args.target else None
    galleries, encoders, bridge = _galleries(args, settings, set(query.modalities), targets, log)
    correction = _correction(args.hubness, galleries, query, args.target, log)
    result = search(
        galleries, query, k=args.k, targets=args.target, encoders=encoders, bridge=bridge, correction=correction
    )
    print(table(result))
    if args.out:
        write_json(Path(args.out), result.to_json())
        log(f"Wrote {args.out}")
    return 0


def _correction(method: str, galleries: object, query: Query, targets: list[str] | None, log: Log) -> Correction | None:
    """--hubness: the correction for the gallery the query will search, measured against that gallery's items of
    the query's modality; None for plain cosine, or (with a note) when the gallery cannot give one."""
    from ..search import bank_modality, choose_gallery, hubness_correction

    if method == "none":
        return None
    gallery = choose_gallery(galleries, query.modalities, targets)  # type: ignore[arg-type]
    try:
        fix = hubness_correction(
            method,
            gallery,
            gallery.check_targets(targets),  # type: ignore[arg-type]
            bank_modality(query.modalities, {p.modality: p.weight for p in query.parts}),
        )
    except ValueError as exc:
        log(f"note: no hubness correction, plain cosine used ({exc})")
        return None
    log(f"Hubness correction: {fix.name}")
    return fix


def table(result: SearchResult) -> str:
    """The result as text: what was searched, one line per hit, then the gap notes, problems and notes."""
    query = " + ".join(f"{p.modality} '{p.name}'" for p in result.query)
    lines = [
        f"query: {query} ({result.combination})",
        f"gallery: {result.gallery}, {result.space.describe()}",
        "search: " + "; ".join(f"{m}: {how}" for m, how in result.method.items()),
        "",
        f"{'rank':>4}  {'score':>7}  {'modality':<8}  {'id':<32}  {'label':<12}  preview",
    ]
    for hit in result.hits:
        preview = hit.source or hit.text or ""
        lines.append(
            f"{hit.rank:>4}  {hit.score:>7.4f}  {hit.modality:<8}  {_cut(hit.id, 32):<32}  "
            f"{_cut(hit.label or '', 12):<12}  {_cut(preview, 60)}"
        )
    if not result.hits:
        lines.append("   (no results)")
    lines += [f"\nmodality gap: {g.text}" for g in result.gaps]
    lines += [f"refused: {p}" for p in result.problems]
    lines += [f"note: {n}" for n in result.notes]
    return "\n".join(lines)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# ---------------------------------------------------------------------------- arguments


def add_subcommand(subparsers: Any) -> None:
    """Add `search` and `index` to an argparse subparsers object."""
    s = subparsers.add_parser(
        "search",
        help="search a gallery by text, image, sound or a combination",
        description="Search a gallery across modalities; prints a table, writes JSON with --out.",
    )
    where = s.add_mutually_exclusive_group(required=True)
    where.add_argument("--index", metavar="DIR", help="an index folder built by `python -m alignment index`")
    where.add_argument(
        "--gallery",
        metavar="SRC",
        help="search without a prebuilt index: 'examples' (the bundled ones), an embeddings file (.npz, "
        ".safetensors) or shard folder, or a manifest / folder / zip (embedded now)",
    )
    s.add_argument("--text", metavar="T", help="a text query")
    s.add_argument("--image", metavar="P", help="an image file")
    s.add_argument("--audio", metavar="P", help="an audio file")
    s.add_argument(
        "--weights",
        nargs="+",
        metavar="MODALITY=W",
        help="weights of the parts of a combined query, e.g. text=0.5 image=1 (default 1 each); the query is "
        "the weighted sum of the parts' unit embeddings, renormalised",
    )
    s.add_argument("--target", nargs="+", choices=list(MODALITIES), help="modalities to return (default: all)")
    s.add_argument("-k", type=int, default=10, help="number of results (default: 10)")
    s.add_argument(
        "--hubness",
        choices=["none", "csls", "isf", "qbnorm"],
        default="none",
        help="re-rank each result list after a hubness correction (as `evaluate --hubness`), the gallery's items "
        "measured against its own items of the query's modality; the cosine nearest 10 x k (at least 100) are "
        "re-scored. Default: none",
    )
    s.add_argument("--out", metavar="FILE.json", help="write the result as JSON")
    s.add_argument(
        "--space", choices=["clip", "clap"], help="an embeddings file's space (default: from its modalities)"
    )
    s.add_argument("--bridge", metavar="FILE", help="a CLAP -> CLIP bridge saved by `bridge fit` (.safetensors)")
    s.add_argument("--corpus", default=str(CORPUS), help="captions to fit the bridge on when --bridge is not given")
    s.add_argument(
        "--bridge-captions", type=int, default=BRIDGE_CAPTIONS, help=f"captions used (default {BRIDGE_CAPTIONS})"
    )
    s.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    add_arguments(s)
    add_run_flags(s)
    s.set_defaults(run=run_search)

    i = subparsers.add_parser(
        "index",
        help="build an index folder from an embeddings file or shard folder",
        description="Build a FAISS index folder (one index per modality, items, space) for `search --index`.",
    )
    i.add_argument("source", metavar="SRC", help="embeddings file (.npz / .safetensors) or shard folder")
    i.add_argument("--out", required=True, metavar="DIR", help="the index folder (replaced if it is one)")
    i.add_argument(
        "--kind",
        choices=["auto", "flat", "ivf", "hnsw"],
        default="auto",
        help="flat = exact; ivf / hnsw = approximate, tuned to --target-recall with recall@10 measured "
        "(default auto: flat below 1M items per modality, ivf from there)",
    )
    i.add_argument("--target-recall", type=float, default=0.95, help="approximate kinds (default: 0.95)")
    i.add_argument("--recall-queries", type=int, default=1_000, help="sample for the recall (default: 1000)")
    i.add_argument("--seed", type=int, default=0, help="IVF training and recall sample (default: 0)")
    i.add_argument("--space", choices=["clip", "clap"], help="the file's space (default: from its modalities)")
    i.add_argument("--model", help="the checkpoint that embedded the file (recorded; searches must use it)")
    i.add_argument("--revision", help="its revision")
    add_run_flags(i)
    i.set_defaults(run=run_index)
