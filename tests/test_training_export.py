"""`python -m dglsp.training.export`: a run's model in bfloat16, loadable the way users load it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dglsp.training.export import export_model, main

pytestmark = pytest.mark.slow


def test_export_writes_bfloat16_weights_that_load_and_match(tiny_model_dir: Path, tmp_path: Path) -> None:
    from transformers import DiffusionGemmaForBlockDiffusion

    from dglsp.model.loading import resolve_model

    dest = tmp_path / "exported"
    size = export_model(tiny_model_dir, dest)
    assert size == sum(p.stat().st_size for p in dest.iterdir())
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in dest.iterdir()}
    assert resolve_model(str(dest)) == dest.resolve()  # the normal --model path accepts it

    original = DiffusionGemmaForBlockDiffusion.from_pretrained(tiny_model_dir, dtype=torch.float32)
    exported = DiffusionGemmaForBlockDiffusion.from_pretrained(dest)
    assert next(exported.parameters()).dtype == torch.bfloat16
    for (name, a), (_, b) in zip(original.state_dict().items(), exported.state_dict().items(), strict=True):
        assert torch.equal(a.to(torch.bfloat16), b), name


def test_export_refuses_a_model_over_the_limit(tiny_model_dir: Path, tmp_path: Path) -> None:
    dest = tmp_path / "exported"
    with pytest.raises(SystemExit, match="over the limit"):
        main([str(tiny_model_dir), str(dest), "--max-mb", "0.001"])
    assert not dest.exists() and not any(tmp_path.glob("*.export-tmp"))
