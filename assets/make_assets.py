"""Regenerate every bundled example under assets/ (photos, sounds, captions, examples.json, README) from scratch."""

from __future__ import annotations

import csv
import io
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import skimage
import skimage.data
from PIL import Image

# Usage: `python assets/make_assets.py` (scikit-image + Pillow; espeak-ng + sox on PATH). Photos are
# scikit-image's bundled samples (public domain or CC0, per their docstrings); sounds are synthesised
# here. The tables below are the single source of truth for captions.txt, examples.json and README.md.
# Every sox call runs with -R (fixed seed for noise and dither), so with the same sox 14.4.2,
# espeak-ng 1.51 and Pillow the output is byte-identical; other versions sound/look the same.

ROOT = Path(__file__).resolve().parent
MAX_SIDE = 512  # longest image side in pixels
JPEG_QUALITY = 90


@dataclass(frozen=True)
class Photo:
    file: str  # relative to assets/
    function: str  # skimage.data.<function>
    caption: str
    what: str
    source: str  # as scikit-image's docstring states it
    licence: str  # quoted from scikit-image's docstring


@dataclass(frozen=True)
class Sound:
    file: str
    caption: str
    what: str
    commands: tuple[str, ...]  # shell-quoted, run in order; {out} is the target, {tmp} a scratch folder


PHOTOS = (
    Photo(
        "images/astronaut.jpg",
        "astronaut",
        "a portrait of an astronaut in an orange spacesuit",
        "Astronaut Eileen Collins in her spacesuit, colour",
        "NASA Great Images database (https://flic.kr/p/r9qvLn)",
        'Public domain: "No known copyright restrictions, released into the public domain."',
    ),
    Photo(
        "images/cat.jpg",
        "chelsea",
        "a close-up photo of a tabby cat",
        "Chelsea the cat, close-up of the face, colour",
        "Photograph by Stefan van der Walt",
        'CC0: "No copyright restrictions. CC0 by the photographer (Stefan van der Walt)."',
    ),
    Photo(
        "images/coffee.jpg",
        "coffee",
        "a cup of coffee on a wooden table",
        "Espresso cup on a saucer on a wooden table, colour",
        "Photograph by Rachel Michetti, courtesy of Pikolo Espresso Bar",
        'CC0: "No copyright restrictions. CC0 by the photographer (Rachel Michetti)."',
    ),
    Photo(
        "images/rocket.jpg",
        "rocket",
        "a rocket on the launch pad at night",
        "Falcon 9 carrying DSCOVR on the launch pad at dusk, colour",
        "SpaceX Photos (https://www.flickr.com/photos/spacexphotos/16511594820/)",
        'Public domain: "captured by SpaceX and released in the public domain"',
    ),
    Photo(
        "images/galaxies.jpg",
        "hubble_deep_field",
        "a telescope image of distant galaxies",
        "Hubble eXtreme Deep Field, colour",
        "HubbleSite (http://hubblesite.org/newscenter/archive/releases/2012/37/image/a/)",
        'Public domain: "captured by NASA and may be freely used in the public domain"',
    ),
    Photo(
        "images/photographer.jpg",
        "camera",
        "a black and white photo of a man with a camera on a tripod",
        "A man looking through a camera on a tripod, greyscale (stored as RGB)",
        "Photograph by Lav Varshney",
        'CC0: "No copyright restrictions. CC0 by the photographer (Lav Varshney)."',
    ),
)

MAN_SAYS = "Good morning, everyone. Today I would like to tell you about the weather for the rest of the week."
WOMAN_SAYS = "Hello, and thank you for calling. Please leave a message after the tone, and I will get back to you soon."
SOX = "sox -R -V1"  # -R: repeatable noise and dither
MONO = "-r 48000 -c 1 -b 16"  # CLAP's native rate, 16-bit
TICK = "synth 0.03 whitenoise bandpass {hz} 2q fade q 0.001 0.03 0.028 pad 0 0.47"  # 30 ms click, then silence

SOUNDS = (
    Sound(
        "audio/speech_man.flac",
        "a man speaking",
        "Synthetic male voice (espeak-ng, US English) reading one sentence",
        (
            f"espeak-ng -v en-us -s 150 -w {{tmp}}/man.wav {shlex.quote(MAN_SAYS)}",
            f"{SOX} {{tmp}}/man.wav {MONO} {{out}} gain -n -3",
        ),
    ),
    Sound(
        "audio/speech_woman.flac",
        "a woman speaking",
        "Synthetic female voice (espeak-ng variant f3, US English) reading one sentence",
        (
            f"espeak-ng -v en-us+f3 -s 150 -w {{tmp}}/woman.wav {shlex.quote(WOMAN_SAYS)}",
            f"{SOX} {{tmp}}/woman.wav {MONO} {{out}} gain -n -3",
        ),
    ),
    Sound(
        "audio/beeps_1khz.flac",
        "an electronic device beeping",
        "Eight 0.25 s beeps of a 1 kHz sine tone, 0.25 s apart",
        (f"{SOX} -n {MONO} {{out}} synth 0.25 sine 1000 fade h 0.01 0.25 0.01 pad 0 0.25 repeat 7 gain -n -6",),
    ),
    Sound(
        "audio/siren_sweep.flac",
        "a siren wailing",
        "Siren-like sine sweep 650-1400 Hz up and down every 3 s, lightly overdriven",
        (
            f"{SOX} -n {MONO} {{tmp}}/up.wav synth 1.5 sine 650:1400",
            f"{SOX} {{tmp}}/up.wav {{tmp}}/down.wav reverse",
            f"{SOX} {' '.join(['{tmp}/up.wav {tmp}/down.wav'] * 3)} {MONO} {{out}} "
            "overdrive 6 lowpass 5000 fade h 0.1 0 0.2 gain -n -6",
        ),
    ),
    Sound(
        "audio/clock_ticks.flac",
        "a clock ticking",
        "Clock-like clicks: band-passed noise bursts alternating 3.5 kHz / 1.8 kHz, two per second",
        (
            f"{SOX} -n {MONO} {{tmp}}/tick.wav {TICK.format(hz=3500)}",
            f"{SOX} -n {MONO} {{tmp}}/tock.wav {TICK.format(hz=1800)}",
            f"{SOX} {{tmp}}/tick.wav {{tmp}}/tock.wav {MONO} {{out}} repeat 5 gain -n -6",
        ),
    ),
    Sound(
        "audio/rain_noise.ogg",
        "rain falling",
        "14 s of rain-like pink noise (band-limited, slow 0.3 Hz swell); longer than CLAP's 10 s window",
        (
            f"{SOX} -n -r 48000 -c 1 {{out}} synth 14 pinknoise highpass 200 lowpass 8000 "
            "tremolo 0.3 40 fade q 0.5 14 0.8 gain -n -8",
        ),
    ),
)

DISTRACTORS = ("a dog barking", "a bowl of fruit on a table")  # match nothing bundled

# Class labels of the paired example dataset (paired.csv), for zero-shot classification.
LABELS = {
    "images/astronaut.jpg": "astronaut",
    "images/cat.jpg": "cat",
    "images/coffee.jpg": "coffee cup",
    "images/rocket.jpg": "rocket",
    "images/galaxies.jpg": "galaxy",
    "images/photographer.jpg": "photographer",
    "audio/speech_man.flac": "man speaking",
    "audio/speech_woman.flac": "woman speaking",
    "audio/beeps_1khz.flac": "beeping device",
    "audio/siren_sweep.flac": "siren",
    "audio/clock_ticks.flac": "clock",
    "audio/rain_noise.ogg": "rain",
}

SMALL_SET = (
    "images/cat.jpg",
    "images/coffee.jpg",
    "images/rocket.jpg",
    "audio/speech_man.flac",
    "audio/siren_sweep.flac",
    "audio/clock_ticks.flac",
)


def make_photo(photo: Photo) -> None:
    """Load the skimage sample, shrink to MAX_SIDE (Lanczos) and save as RGB JPEG."""
    array = getattr(skimage.data, photo.function)()
    image = Image.fromarray(np.asarray(array, dtype=np.uint8)).convert("RGB")
    scale = MAX_SIDE / max(image.size)
    if scale < 1:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    image.save(ROOT / photo.file, "JPEG", quality=JPEG_QUALITY)


def make_sound(sound: Sound) -> None:
    """Run the sound's commands (split before filling in paths, so paths with spaces stay one argument)."""
    with tempfile.TemporaryDirectory() as tmp:
        for command in sound.commands:
            argv = [part.format(tmp=tmp, out=ROOT / sound.file) for part in shlex.split(command)]
            subprocess.run(argv, check=True)


def shown(command: str, out: str) -> str:
    """A command as the README shows it: relative output path, scratch files under tmp/."""
    return command.format(tmp="tmp", out=out)


def example_sets() -> list[dict]:
    captions = {item.file: item.caption for item in (*PHOTOS, *SOUNDS)}
    everything = {
        "name": "Everyday scenes and sounds",
        "texts": captions_in_order(),
        "images": [p.file for p in PHOTOS],
        "audio": [s.file for s in SOUNDS],
        "pairs": captions,
    }
    small = {
        "name": "Quick look (3 photos, 3 sounds)",
        "texts": [captions[f] for f in SMALL_SET] + [DISTRACTORS[0]],
        "images": [f for f in SMALL_SET if f.startswith("images/")],
        "audio": [f for f in SMALL_SET if f.startswith("audio/")],
        "pairs": {f: captions[f] for f in SMALL_SET},
    }
    return [everything, small]


def paired_manifest() -> str:
    """paired.csv: the example files and their captions as a long-form paired dataset (one pair per file)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "modality", "content", "pair", "label"])
    for item in (*PHOTOS, *SOUNDS):
        key = Path(item.file).stem
        modality = "image" if item.file.startswith("images/") else "audio"
        writer.writerow([f"{key} caption", "text", item.caption, key, ""])
        writer.writerow([key, modality, item.file, key, LABELS[item.file]])
    return out.getvalue()


def captions_in_order() -> list[str]:
    """Image captions, then sound captions, then the distractors."""
    return [p.caption for p in PHOTOS] + [s.caption for s in SOUNDS] + list(DISTRACTORS)


def readme() -> str:
    lines = [
        "# Bundled examples",
        "",
        "Everything here is regenerated by `python assets/make_assets.py` (do not edit by hand: change the",
        "tables in that script and rerun it). `captions.txt` holds one caption per line (photo captions, then",
        "sound captions, then distractors that match nothing); `examples.json` lists the example sets the app",
        "offers, with paths relative to this folder and `pairs` giving each file's intended caption.",
        "",
        f"Tools used: scikit-image {skimage.__version__}, Pillow {Image.__version__} (JPEG quality {JPEG_QUALITY},"
        f" Lanczos, longest side ≤ {MAX_SIDE} px), {tool_version(['sox', '--version'])},"
        f" {tool_version(['espeak-ng', '--version'])}.",
        "",
        "## Photos",
        "",
        "Source and licence as stated in the docstring of each `skimage.data` function.",
        "",
        "| file | what | made with | source | licence | caption |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for p in PHOTOS:
        size = "×".join(map(str, Image.open(ROOT / p.file).size))
        lines.append(
            f"| `{p.file}` | {p.what}, {size} px | `skimage.data.{p.function}()` | {p.source} |"
            f" {p.licence} | {p.caption} |"
        )
    lines += [
        "",
        "## Sounds",
        "",
        "Made here from scratch (no recordings, no third-party audio): mono, 48 kHz, 16-bit FLAC, except the",
        "rain-like noise, which is Ogg Vorbis to keep it small. They are synthetic imitations; each name says",
        "what the file really is. Licence: CC0 1.0 (no third-party material; espeak-ng's",
        "GPL-3.0-or-later covers the program, not the speech it synthesises). sox's noise is random, but",
        "`-R` fixes its seed, so reruns give the same samples. `rain_noise.ogg` (14 s) is deliberately",
        "longer than CLAP's 10 s window, so the app's deterministic windowing (two overlapping windows,",
        "averaged) is exercised.",
        "",
        "| file | what | duration | made with | caption |",
        "| --- | --- | --- | --- | --- |",
    ]
    for s in SOUNDS:
        seconds = float(
            subprocess.run(["soxi", "-D", str(ROOT / s.file)], check=True, capture_output=True, text=True).stdout
        )
        commands = "<br>".join(f"`{shown(c, s.file)}`" for c in s.commands)
        lines.append(f"| `{s.file}` | {s.what} | {seconds:.2f} s | {commands} | {s.caption} |")
    lines += [
        "",
        "## Text",
        "",
        "`captions.txt`, `examples.json`, `paired.csv` (the example files as a long-form paired dataset, with",
        "class labels for zero-shot classification) and this file are written by `make_assets.py`; CC0 1.0.",
        "",
    ]
    return "\n".join(lines)


def tool_version(argv: list[str]) -> str:
    """'sox 14.4.2' / 'espeak-ng 1.51' from the tool's --version banner."""
    words = subprocess.run(argv, check=True, capture_output=True, text=True).stdout.split()
    version = next(w for w in words if w.lstrip("v")[:1].isdigit())
    return f"{argv[0]} {version.lstrip('v')}"


def main() -> None:
    missing = [tool for tool in ("sox", "soxi", "espeak-ng") if shutil.which(tool) is None]
    if missing:
        sys.exit(f"missing {', '.join(missing)}: apt-get install espeak-ng sox libsox-fmt-all")
    for folder in ("images", "audio"):
        (ROOT / folder).mkdir(exist_ok=True)
    for photo in PHOTOS:
        make_photo(photo)
    for sound in SOUNDS:
        make_sound(sound)
    (ROOT / "captions.txt").write_text("\n".join(captions_in_order()) + "\n")
    (ROOT / "examples.json").write_text(json.dumps(example_sets(), indent=2) + "\n")
    (ROOT / "paired.csv").write_text(paired_manifest())
    (ROOT / "README.md").write_text(readme())
    print(
        f"wrote {len(PHOTOS)} photos, {len(SOUNDS)} sounds, captions.txt, examples.json, paired.csv, README.md "
        f"in {ROOT}"
    )


if __name__ == "__main__":
    main()
