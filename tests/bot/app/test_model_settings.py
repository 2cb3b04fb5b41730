"""LIKENESS_MODELS, LIKENESS_DEFAULT_MODEL and LIKENESS_MODEL_CACHE: read strictly, one line per fault,
each model's overrides applied to it alone, and LIKENESS_MODEL alone still a one-model setup."""

from __future__ import annotations

import pytest

from bot.app.settings import load_settings
from bot.engine.config import ModelBudget
from bot.errors import InvalidRequest, SettingsInvalid


def settings(**values: object):  # type: ignore[no-untyped-def]
    return load_settings(None, **values)


def test_one_model_alone_is_a_set_of_one_named_as_the_png_names_it() -> None:
    models = settings(model="org/photo-model").models_config
    assert models.names == ("org/photo-model",) and models.default == "org/photo-model"
    assert settings(model="/srv/models/realvis.safetensors").models_config.names == ("realvis",)


def test_each_model_takes_its_own_overrides_and_the_rest_is_the_bots() -> None:
    s = settings(
        vae="bot/vae",
        models={
            "photo": "org/photo",
            "anime": {"model": "/m/anime.safetensors", "clip_skip": 2, "vae": "none", "ip_adapter": "off"},
        },
        default_model="anime",
        model_cache="2",
    )
    models = s.models_config
    assert models.names == ("photo", "anime") and models.default == "anime"
    photo, anime = models.models["photo"], models.models["anime"]
    assert (photo.model, photo.vae, photo.clip_skip, photo.ip_adapter is not None) == (
        "org/photo",
        "bot/vae",
        None,
        True,
    )
    assert (anime.vae, anime.clip_skip, anime.ip_adapter, anime.name) == (None, 2, None, "anime")
    assert models.budget == ModelBudget(count=2)
    assert s.defaults.model == "anime" and dict(s.defaults.clip_skips) == {"anime": 2}
    assert s.engine_config == anime  # the default's


def test_the_first_model_is_the_default_and_megabytes_are_a_budget() -> None:
    models = settings(models={"b": "org/b", "a": "org/a"}, model_cache="12000MB").models_config
    assert models.default == "b" and models.budget == ModelBudget(bytes=12000 * 2**20)


@pytest.mark.parametrize(
    ("values", "line"),
    [
        ({"models": {"bad name!": "org/x"}}, "LIKENESS_MODELS="),
        ({"models": {"a": {"model": "org/x", "clipskip": 2}}}, "unknown key 'clipskip'"),
        ({"models": {"a": {"model": "org/x", "clip_skip": 13}}}, "clip_skip must be a whole number 1–12"),
        ({"models": {"a": {"vae": "org/v"}}}, "model 'a' says no model"),
        ({"model_cache": "0"}, "give a count of models (1, 2, …) or megabytes of weights (12000MB)"),
        ({"model_cache": "lots"}, "LIKENESS_MODEL_CACHE='lots'"),
    ],
)
def test_a_bad_entry_stops_start_up_with_one_line(values: dict[str, object], line: str) -> None:
    with pytest.raises(SettingsInvalid) as raised:
        settings(**values)
    assert line in str(raised.value) and "\n" not in str(raised.value)


def test_a_default_model_not_listed_names_the_choices() -> None:
    s = settings(models={"a": "org/a", "b": "org/b"}, default_model="c")
    with pytest.raises(SettingsInvalid, match=r"LIKENESS_DEFAULT_MODEL='c': choose one of a, b"):
        _ = s.models_config


def test_an_unknown_model_in_a_job_lists_the_valid_names() -> None:
    models = settings(models={"a": "org/a", "b": "org/b"}).models_config
    assert models.check(None) == "a" and models.check("b") == "b"
    with pytest.raises(InvalidRequest, match=r"^unknown model 'c': choose one of a, b$"):
        models.check("c")
