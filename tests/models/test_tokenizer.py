"""The real CLIP tokenizer built offline from its BPE merges: vocabulary, known ids, and the 77-token truncation."""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import ROOT, shared_path
from transformers import CLIPModel, CLIPProcessor, CLIPTokenizer

from alignment.analysis.compare import compare
from alignment.models.encoders import ClipEncoder, Encoders
from alignment.models.factory import load_encoder
from alignment.models.tiny import CLIP_SPECIALS, clip_tokenizer, clip_tokenizer_from_bpe, save, tiny_clip

BOS, EOS = 49406, 49407
LONG = " ".join(["word"] * 100)  # one token per word: 100 + 2 specials, past CLIP's 77


@pytest.fixture(scope="session")
def real_tokenizer() -> CLIPTokenizer:
    return clip_tokenizer_from_bpe(shared_path("clip_bpe", "bpe_simple_vocab_16e6.txt.gz"))


@pytest.fixture(scope="session")
def real_vocab_clip(real_tokenizer: CLIPTokenizer, tmp_path_factory: pytest.TempPathFactory) -> ClipEncoder:
    """A tiny random CLIP whose text tower takes the real 49,408-token vocabulary, saved and loaded by the factory."""
    model, processor = tiny_clip()
    config = copy.deepcopy(model.config)
    text = config.text_config
    text.vocab_size = len(real_tokenizer)
    text.bos_token_id, text.eos_token_id, text.pad_token_id = BOS, EOS, EOS
    torch.manual_seed(0)
    big = CLIPModel(config).eval()
    directory = save(
        big,
        CLIPProcessor(image_processor=processor.image_processor, tokenizer=real_tokenizer),
        tmp_path_factory.mktemp("models") / "clip-real-vocab",
    )
    encoder = load_encoder("clip", str(directory))
    assert isinstance(encoder, ClipEncoder)
    return encoder


def test_vocabulary_has_the_real_size_and_specials(real_tokenizer: CLIPTokenizer) -> None:
    assert len(real_tokenizer) == real_tokenizer.vocab_size == 49_408
    assert real_tokenizer.convert_tokens_to_ids(list(CLIP_SPECIALS)) == [BOS, EOS]
    assert (real_tokenizer.bos_token_id, real_tokenizer.eos_token_id, real_tokenizer.pad_token_id) == (BOS, EOS, EOS)
    assert real_tokenizer.model_max_length == 77
    assert len(clip_tokenizer()) == 514  # the tiny preset: 512 byte tokens and the two specials


def test_known_sentence_tokenizes_like_openai_clip(real_tokenizer: CLIPTokenizer) -> None:
    ids = real_tokenizer("a photo of a cat")["input_ids"]
    assert ids == [BOS, 320, 1125, 539, 320, 2368, EOS]  # the ids OpenAI's CLIP gives: bos + 5 words + eos
    assert real_tokenizer.convert_ids_to_tokens(ids[1:-1]) == ["a</w>", "photo</w>", "of</w>", "a</w>", "cat</w>"]
    assert real_tokenizer.decode(ids, skip_special_tokens=True) == "a photo of a cat"


def test_normalisation_lowercases_and_collapses_whitespace(real_tokenizer: CLIPTokenizer) -> None:
    reference = real_tokenizer("a photo of a cat")["input_ids"]
    assert real_tokenizer("A  Photo\tof a\n CAT")["input_ids"] == reference
    assert real_tokenizer("a photo of a dog")["input_ids"] != reference


def test_any_unicode_round_trips(real_tokenizer: CLIPTokenizer) -> None:
    text = "café crème, 東京 🐱!"
    ids = real_tokenizer(text)["input_ids"]
    assert EOS not in ids[1:-1]  # byte-level BPE: nothing falls back to the unknown token
    assert real_tokenizer.decode(ids, skip_special_tokens=True).replace(" ", "") == text.replace(" ", "")


def test_factory_round_trip_keeps_the_tokenizer(real_vocab_clip: ClipEncoder, real_tokenizer: CLIPTokenizer) -> None:
    texts = ["a photo of a cat", "A dog's ball, 3 times!", LONG]
    assert real_vocab_clip.tokenizer(texts)["input_ids"] == real_tokenizer(texts)["input_ids"]
    assert real_vocab_clip.max_text_tokens == 77


def test_long_text_is_reported_as_truncated(real_vocab_clip: ClipEncoder) -> None:
    short, long = real_vocab_clip.text_tokens(["a photo of a cat", LONG])
    assert (short.n_tokens, short.max_tokens, short.truncated) == (7, 77, False)
    assert (long.n_tokens, long.max_tokens, long.truncated) == (102, 77, True)
    exactly = " ".join(["word"] * 75)  # 75 + 2 = 77: fits exactly
    assert not real_vocab_clip.text_tokens([exactly])[0].truncated


def test_truncation_keeps_the_first_75_words_and_the_end_token(real_vocab_clip: ClipEncoder) -> None:
    # CLIP pools at the end-of-text token: truncating must keep it, so the long text embeds like its first 75 words.
    out = real_vocab_clip.encode_text([LONG, " ".join(["word"] * 75), " ".join(["word"] * 74)])
    torch.testing.assert_close(out[0], out[1], atol=1e-5, rtol=0)
    assert (out[0] - out[2]).abs().max() > 1e-4


def test_compare_notes_name_the_truncated_text_and_the_limit(real_vocab_clip: ClipEncoder, encoders: Encoders) -> None:
    session = Encoders(real_vocab_clip, encoders.clap)
    result = compare(session, ["a photo of a cat", LONG], [ROOT / "assets" / "images" / "cat.jpg"])
    clip_notes = [n for n in result.notes if "CLIP" in n]
    assert len(clip_notes) == 1
    [note] = clip_notes
    assert note.startswith("text 2 (")
    assert "102 tokens" in note and "first 77" in note and "truncated" in note
    assert LONG[:40] in note  # the text's id (its first characters)
    assert not any(n.startswith("text 1 ") for n in result.notes)  # the short text is not mentioned
    assert result.text_image.cosine.shape == (2, 1)
    assert result.problems == []  # a truncated text still runs: it is a note, not a problem
