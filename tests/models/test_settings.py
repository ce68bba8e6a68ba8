import pytest

from alignment.models.settings import DEFAULT_CLAP, DEFAULT_CLIP, TINY, parse_settings, settings_for


def test_default_preset_uses_the_real_checkpoints() -> None:
    s = parse_settings([], env={})
    assert (s.clip, s.clap, s.random_weights) == (DEFAULT_CLIP, DEFAULT_CLAP, False)


def test_tiny_preset_from_flag_or_env_is_marked_random() -> None:
    assert parse_settings(["--preset", "tiny"], env={}).random_weights
    s = parse_settings([], env={"ALIGN_PRESET": "tiny"})
    assert (s.clip, s.clap, s.random_weights) == (TINY, TINY, True)


def test_flags_win_over_env_and_override_one_backbone() -> None:
    s = parse_settings(["--clip", "/models/clip"], env={"ALIGN_CLIP": "env/clip", "ALIGN_CLAP": "env/clap"})
    assert (s.clip, s.clap) == ("/models/clip", "env/clap")
    mixed = parse_settings(["--preset", "tiny", "--clap", "/models/clap"], env={})
    assert (mixed.clip, mixed.clap, mixed.random_weights) == (TINY, "/models/clap", True)


def test_unknown_preset_is_named() -> None:
    with pytest.raises(ValueError, match="'huge'"):
        settings_for("huge")  # type: ignore[arg-type]
