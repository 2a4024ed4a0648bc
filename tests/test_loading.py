"""Finding and checking a model: every failure is a message that says what to do."""

from __future__ import annotations

import json

import pytest

from dglsp.engine import ModelUnavailable
from dglsp.model import loading


def test_local_directory_resolves(tiny_model_dir):
    assert loading.resolve_model(str(tiny_model_dir)) == tiny_model_dir.resolve()


def test_hub_id_not_in_cache_names_the_download_command(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ModelUnavailable, match="hf download google/diffusiongemma-26B-A4B-it"):
        loading.resolve_model("google/diffusiongemma-26B-A4B-it")


def test_directory_without_config(tmp_path):
    with pytest.raises(ModelUnavailable, match=r"no config\.json"):
        loading.resolve_model(str(tmp_path))


def test_wrong_model_type(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ModelUnavailable, match="'llama' model"):
        loading.resolve_model(str(tmp_path))


def test_cuda_without_cuda_says_how_to_fix():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ModelUnavailable, match="no CUDA device"):
        loading.choose_device("cuda")
    assert loading.choose_device("auto").type == "cpu"


def test_unknown_device():
    with pytest.raises(ModelUnavailable, match="Unknown device"):
        loading.choose_device("tpu-9")


def test_model_too_big_for_free_memory(tiny_model_dir, monkeypatch):
    import torch

    monkeypatch.setattr(loading, "available_ram_bytes", lambda: 1024)
    with pytest.raises(ModelUnavailable, match=r"needs about .* only 1\.0 KiB of free RAM"):
        loading.check_fits(tiny_model_dir, torch.device("cpu"))
    monkeypatch.setattr(loading, "available_ram_bytes", lambda: 10 * 1024**3)
    loading.check_fits(tiny_model_dir, torch.device("cpu"))


def test_hub_ids_and_paths_are_told_apart(tmp_path):
    assert not loading.looks_like_path("google/diffusiongemma-26B-A4B-it")
    assert loading.looks_like_path("/abs/model")
    assert loading.looks_like_path("./model")
    assert loading.looks_like_path("a/b/c")
