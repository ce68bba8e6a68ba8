"""Write captions.txt: everyday sights and sounds from templates x word lists (all written here, CC0).

The corpus is the shared text a bridge is fitted on: each caption is embedded by both text towers (CLAP and
CLIP) and row i of one pairs with row i of the other. It mixes sound captions (what CLAP audio looks like
in text) with photo captions (what CLIP images look like in text) and scenes that are both seen and heard.

Deterministic: one seeded `random.Random`, candidates generated in a fixed order, sampled, deduplicated.
Run: `python assets/corpus/make_corpus.py` (writes captions.txt beside this file; `--check` only compares).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import random
import sys
from pathlib import Path

SEED = 20240611
N_SOUND = 2400  # sound captions kept
N_SIGHT = 2100  # photo captions kept
N_BOTH = 700  # scenes described by what is seen and heard
OUT = Path(__file__).with_name("captions.txt")

# ---------------------------------------------------------------------------- sounds

SOUND_EVENTS = [  # a source and what it does, as heard
    "a dog barking",
    "a small dog yapping",
    "a large dog growling",
    "a dog whining",
    "a puppy whimpering",
    "a cat meowing",
    "a cat purring",
    "two cats hissing",
    "a cow mooing",
    "sheep bleating",
    "a horse neighing",
    "horse hooves clopping",
    "a rooster crowing",
    "chickens clucking",
    "ducks quacking",
    "geese honking",
    "birds singing",
    "a crow cawing",
    "an owl hooting",
    "seagulls crying",
    "a woodpecker tapping",
    "frogs croaking",
    "crickets chirping",
    "bees buzzing",
    "a fly buzzing",
    "a mosquito whining",
    "rain falling",
    "heavy rain pouring",
    "rain dripping from a roof",
    "thunder rumbling",
    "wind howling",
    "wind rustling leaves",
    "ocean waves crashing",
    "waves lapping on the shore",
    "a stream babbling",
    "a waterfall roaring",
    "water dripping from a tap",
    "a fire crackling",
    "fireworks exploding",
    "a siren wailing",
    "an ambulance siren passing",
    "a police siren wailing",
    "a fire truck horn blaring",
    "a car horn honking",
    "a car engine starting",
    "a car engine idling",
    "a car accelerating",
    "tires screeching",
    "a motorcycle revving",
    "a truck reversing with beeps",
    "a bus pulling away",
    "a train passing",
    "a train horn blowing",
    "a subway train braking",
    "an airplane flying overhead",
    "a jet taking off",
    "a helicopter hovering",
    "a bicycle bell ringing",
    "a skateboard rolling",
    "church bells ringing",
    "a doorbell ringing",
    "a phone ringing",
    "a phone vibrating",
    "an alarm clock beeping",
    "a clock ticking",
    "a smoke alarm beeping",
    "a microwave beeping",
    "a kettle whistling",
    "a kettle boiling",
    "food sizzling in a pan",
    "someone chopping vegetables",
    "dishes clattering",
    "a blender running",
    "a vacuum cleaner running",
    "a washing machine spinning",
    "a hair dryer blowing",
    "a toilet flushing",
    "a shower running",
    "a door slamming",
    "a door creaking open",
    "someone knocking on a door",
    "keys jingling",
    "footsteps on gravel",
    "footsteps on a wooden floor",
    "high heels on a hard floor",
    "someone typing on a keyboard",
    "a mouse clicking",
    "a printer printing",
    "paper being torn",
    "pages turning",
    "a pen scratching on paper",
    "glass breaking",
    "a bottle being opened",
    "ice cubes clinking in a glass",
    "coins dropping",
    "a zipper being pulled",
    "a hammer hitting nails",
    "a drill whirring",
    "a chainsaw cutting wood",
    "a saw cutting",
    "a lawn mower running",
    "a jackhammer pounding",
    "a leaf blower running",
    "a crowd cheering",
    "people applauding",
    "people talking in a crowd",
    "children playing",
    "a baby crying",
    "a baby laughing",
    "a man speaking",
    "a woman speaking",
    "a man coughing",
    "a woman laughing",
    "someone whistling a tune",
    "someone snoring",
    "someone sneezing",
    "a choir singing",
    "a man singing",
    "a woman singing",
    "a guitar being strummed",
    "an electric guitar solo",
    "a piano playing softly",
    "a violin playing",
    "a cello playing",
    "drums playing a beat",
    "a trumpet playing",
    "a saxophone playing",
    "a flute playing",
    "an accordion playing",
    "a harmonica playing",
    "a marching band playing",
    "a music box playing",
    "a referee blowing a whistle",
    "a basketball bouncing",
    "a tennis ball being hit",
    "a ball being kicked",
    "bowling pins crashing",
    "a cash register ringing",
    "a camera shutter clicking",
    "a sewing machine running",
    "a fan humming",
    "an air conditioner humming",
    "a refrigerator humming",
    "electrical buzzing",
    "a radio crackling with static",
]
SOUND_PLACES = [
    "in a park",
    "on a busy street",
    "in a quiet street",
    "in a kitchen",
    "in a living room",
    "in a bathroom",
    "in an office",
    "in a forest",
    "at the beach",
    "on a farm",
    "in a train station",
    "at an airport",
    "in a shopping mall",
    "in a restaurant",
    "in a classroom",
    "in a large hall",
    "in a church",
    "in a stadium",
    "in a garage",
    "on a construction site",
    "in the countryside",
    "in a small room",
    "in a tunnel",
    "near a highway",
    "in a backyard",
    "on a boat",
    "at night",
    "early in the morning",
    "during a storm",
]
SOUND_QUALITIES = [
    "loud",
    "quiet",
    "faint",
    "distant",
    "muffled",
    "echoing",
    "short",
    "long",
    "repeated",
    "steady",
    "sudden",
    "continuous",
]
SOUND_TEMPLATES = [
    "{e}",
    "the sound of {e}",
    "{e} {p}",
    "the sound of {e} {p}",
    "{e} in the distance",
    "{e} nearby",
    "{e} close to the microphone",
    "a recording of {e} {p}",
    "a {q} recording of {e}",
    "{e}, {q} and clear",
    "{e} mixed with {e2}",
    "{e} and {e2} {p}",
    "{e}, then {e2}",
    "{e} with {e2} in the background",
    "background noise {p} with {e}",
    "{e} over and over",
    "{e} for a few seconds",
    "{e} {p}, {e2} in the distance",
]

# ---------------------------------------------------------------------------- sights

OBJECTS = [  # a thing you can photograph, with the adjectives that suit it
    ("dog", ["brown", "black", "white", "small", "large", "sleepy", "wet"]),
    ("cat", ["black", "white", "grey", "orange", "tabby", "sleepy", "small"]),
    ("horse", ["brown", "white", "black", "young"]),
    ("cow", ["black and white", "brown", "young"]),
    ("sheep", ["white", "fluffy"]),
    ("bird", ["small", "colourful", "black", "white"]),
    ("duck", ["white", "brown"]),
    ("car", ["red", "blue", "black", "white", "old", "yellow", "parked"]),
    ("bicycle", ["red", "blue", "old", "rusty"]),
    ("motorcycle", ["red", "black", "old"]),
    ("bus", ["red", "yellow", "city", "double-decker"]),
    ("train", ["red", "old", "high-speed", "freight"]),
    ("airplane", ["white", "small", "large"]),
    ("boat", ["small", "wooden", "white", "fishing"]),
    ("truck", ["red", "white", "old", "delivery"]),
    ("chair", ["wooden", "red", "empty", "old"]),
    ("table", ["wooden", "round", "long", "empty"]),
    ("sofa", ["grey", "blue", "leather", "old"]),
    ("lamp", ["desk", "tall", "old"]),
    ("clock", ["round", "old", "wall", "alarm"]),
    ("cup of coffee", ["hot", "small", "white"]),
    ("cup of tea", ["hot", "green", "small"]),
    ("bowl of fruit", ["colourful", "large"]),
    ("plate of pasta", ["large", "small"]),
    ("pizza", ["large", "hot", "half-eaten"]),
    ("sandwich", ["large", "toasted"]),
    ("cake", ["birthday", "chocolate"]),
    ("bottle of water", ["plastic", "glass", "empty"]),
    ("glass of wine", ["red", "white"]),
    ("laptop", ["open", "silver", "old"]),
    ("phone", ["black", "old", "cracked"]),
    ("keyboard", ["black", "white"]),
    ("book", ["open", "old", "thick"]),
    ("newspaper", ["folded", "old"]),
    ("guitar", ["acoustic", "electric", "red"]),
    ("piano", ["black", "old", "grand"]),
    ("violin", ["wooden", "old"]),
    ("drum kit", ["red", "black"]),
    ("umbrella", ["red", "black", "open", "broken"]),
    ("backpack", ["blue", "red", "heavy"]),
    ("pair of shoes", ["red", "white", "muddy", "new"]),
    ("hat", ["straw", "red", "woollen"]),
    ("flower", ["red", "yellow", "white", "pink"]),
    ("tree", ["tall", "old", "bare", "green"]),
    ("house", ["white", "red", "small", "old", "wooden"]),
    ("bridge", ["stone", "old", "long", "steel"]),
    ("church", ["old", "stone", "small"]),
    ("lighthouse", ["white", "red and white", "old"]),
    ("tent", ["orange", "green", "small"]),
    ("kite", ["red", "colourful"]),
    ("ball", ["red", "soccer", "tennis"]),
    ("fire", ["small", "large", "camp"]),
    ("candle", ["lit", "white", "tall"]),
    ("window", ["open", "broken", "large"]),
    ("door", ["red", "wooden", "open", "closed"]),
    ("street lamp", ["old", "glowing"]),
    ("traffic light", ["red", "green"]),
    ("fountain", ["stone", "small"]),
]
SCENES = [
    "on a wooden table",
    "in a park",
    "on a city street",
    "in a kitchen",
    "on the beach",
    "in the snow",
    "at night",
    "at sunset",
    "in a living room",
    "next to a window",
    "in a field",
    "on a mountain road",
    "in the rain",
    "in a garden",
    "on a shelf",
    "in a shop window",
    "by a lake",
    "in a forest",
    "on the grass",
    "in front of a house",
    "on a sidewalk",
    "in a parking lot",
    "on a bed",
    "in a classroom",
    "in a museum",
]
PEOPLE = [  # people doing things: both seen and heard
    "a man playing the guitar",
    "a woman playing the piano",
    "a child playing the violin",
    "a band on a stage",
    "a crowd at a concert",
    "people dancing",
    "children playing football",
    "a man chopping wood",
    "a woman cooking",
    "a chef frying food",
    "a person typing on a laptop",
    "a man mowing the lawn",
    "a woman walking a dog",
    "people clapping",
    "a baby crying in a crib",
    "a man talking on the phone",
    "two people talking at a table",
    "a street musician playing the saxophone",
    "a choir singing in a church",
    "workers drilling a road",
    "a boy bouncing a basketball",
    "a girl blowing a whistle",
    "a man hammering a nail",
    "a woman vacuuming the carpet",
    "a barista steaming milk",
    "a drummer playing drums",
]
SIGHT_TEMPLATES = [
    "a photo of {a} {o}",
    "{a} {adj} {o} {s}",
    "a photo of {a} {adj} {o} {s}",
    "a close-up photo of {a} {o}",
    "a blurry photo of {a} {adj} {o}",
    "a black and white photo of {a} {o} {s}",
    "a painting of {a} {o} {s}",
    "{a} {o} {s}",
    "a picture of {a} {adj} {o}",
    "two {o_plural} {s}",
    "a bright photo of {a} {o} {s}",
    "a dark photo of {a} {o}",
    "a cropped photo of {a} {adj} {o}",
]
BOTH_TEMPLATES = [
    "{who} {s}",
    "a photo of {who} {s}",
    "a video of {who} {s}",
    "{who}, with {e} in the background",
    "{who} {s}, {e} nearby",
    "a recording of {who}",
    "the sound of {who}",
]


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def plural(noun: str) -> str:
    head, _, rest = noun.partition(" of ")
    if head in ("sheep", "pair"):
        head = "pairs" if head == "pair" else head
    elif head.endswith(("s", "sh", "ch")):
        head += "es"
    else:
        head += "s"
    return f"{head} of {rest}" if rest else head


def sound_candidates() -> list[str]:
    out = []
    for t in SOUND_TEMPLATES:
        needs_second = "{e2}" in t
        for e, p, q in itertools.product(
            SOUND_EVENTS, SOUND_PLACES if "{p}" in t else [""], SOUND_QUALITIES if "{q}" in t else [""]
        ):
            if needs_second:
                continue  # pairs of events are sampled below: the full product is too large to list
            out.append(t.format(e=e, p=p, q=q))
    return out


def sound_pairs(rng: random.Random, count: int) -> list[str]:
    templates = [t for t in SOUND_TEMPLATES if "{e2}" in t]
    out = []
    for _ in range(count):
        e, e2 = rng.sample(SOUND_EVENTS, 2)
        out.append(rng.choice(templates).format(e=e, e2=e2, p=rng.choice(SOUND_PLACES), q=rng.choice(SOUND_QUALITIES)))
    return out


def sight(rng: random.Random) -> str:
    noun, adjectives = rng.choice(OBJECTS)
    adj = rng.choice(adjectives)
    template = rng.choice(SIGHT_TEMPLATES)
    first = adj if "{a} {adj}" in template else noun  # the article agrees with the word after it
    return template.format(a=article(first), adj=adj, o=noun, s=rng.choice(SCENES), o_plural=plural(noun))


def both(rng: random.Random) -> str:
    place = rng.choice(SOUND_PLACES)  # where people are, not where objects lie ("on a shelf")
    return rng.choice(BOTH_TEMPLATES).format(who=rng.choice(PEOPLE), s=place, e=rng.choice(SOUND_EVENTS))


def build(seed: int = SEED) -> list[str]:
    """The corpus: sounds, then sights, then scenes both seen and heard; unique, capitalised as written."""
    rng = random.Random(seed)
    singles = sound_candidates()
    sounds = rng.sample(singles, N_SOUND * 2 // 3) + sound_pairs(rng, N_SOUND)
    groups = [
        (sounds, N_SOUND),
        ([sight(rng) for _ in range(N_SIGHT * 3)], N_SIGHT),
        ([both(rng) for _ in range(N_BOTH * 3)], N_BOTH),
    ]
    seen: set[str] = set()
    corpus = []
    for candidates, quota in groups:
        kept = 0
        for caption in candidates:
            caption = " ".join(caption.split())
            if caption in seen:
                continue
            seen.add(caption)
            corpus.append(caption)
            kept += 1
            if kept == quota:
                break
    return corpus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with captions.txt instead of writing it")
    args = parser.parse_args(argv)
    text = "\n".join(build()) + "\n"
    digest = hashlib.sha256(text.encode()).hexdigest()
    if args.check:
        same = OUT.exists() and OUT.read_text(encoding="utf-8") == text
        print(f"{OUT.name}: {'up to date' if same else 'differs from the script'} (sha256 {digest})")
        return 0 if same else 1
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT} ({text.count(chr(10))} captions, {len(text.encode()):,} bytes, sha256 {digest})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
