"""The `experts` setting: transformers' MoE implementations (eager, batched_mm, grouped_mm)
chosen on the load path, and each giving the same text as eager with the same seed on the
tiny model; the engine bench's experts section."""

from __future__ import annotations

import asyncio

import pytest
import torch

from dglsp.bench import experts as experts_bench
from dglsp.bench.engines import EngineChoice, model_of, opened_engine
from dglsp.config import Settings, merge_settings
from dglsp.engine.base import ModelUnavailable
from dglsp.model.denoise import DenoiseSettings, Layout, denoise, encode_prompt
from dglsp.model.loading import choose_experts, experts_of, load_model, set_experts
from dglsp.model.tokenizer import load_tokenizer

IMPLEMENTATIONS = ("eager", "batched_mm", "grouped_mm")


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_model(tiny_model_dir, torch.device("cpu"), torch.float32), load_tokenizer(tiny_model_dir)


def _moe_implementations(model) -> set[str]:
    """What every MoE layer (encoder and decoder) dispatches to."""
    return {
        module.config._experts_implementation
        for name, module in model.named_modules()
        if name.endswith(".experts")
    }


def test_auto_is_grouped_mm_and_bad_names_say_what_to_use():
    assert choose_experts("auto") == "grouped_mm"
    assert choose_experts("") == "grouped_mm"
    assert [choose_experts(name) for name in IMPLEMENTATIONS] == list(IMPLEMENTATIONS)
    with pytest.raises(ModelUnavailable, match="eager, batched_mm, grouped_mm"):
        choose_experts("fastest")


@pytest.mark.parametrize("name", IMPLEMENTATIONS)
def test_load_model_sets_every_moe_layer(tiny_model_dir, name):
    model = load_model(tiny_model_dir, torch.device("cpu"), torch.float32, name)
    assert experts_of(model) == name
    assert _moe_implementations(model) == {name}


def _denoised(model, tokenizer, prompt: str, settings: DenoiseSettings, layout=None) -> list[list[int]]:
    ids = tokenizer.encode(prompt)
    cache = encode_prompt(model, ids)
    steps = denoise(model, cache, len(ids), settings, layout, tokenizer.end_of_middle_ids)
    return [step.middle_ids for step in steps]


CASES = [
    ("def mean(values):\n    return ", DenoiseSettings(16, max_steps=6, seed=seed, infill_stop=False), None)
    for seed in range(4)
] + [
    ("import os\n" * 40, DenoiseSettings(24, max_steps=5, seed=7), None),
    ("x = [", DenoiseSettings(12, max_steps=4, seed=9), Layout.pinned_suffix((3, 8), [40, 41], 12, 0)),
]


@pytest.mark.parametrize("name", ["batched_mm", "grouped_mm"])
def test_each_implementation_gives_eagers_text_with_the_same_seed(tiny, name):
    model, tokenizer = tiny
    try:
        set_experts(model, "eager")
        assert _moe_implementations(model) == {"eager"}
        expected = [_denoised(model, tokenizer, *case) for case in CASES]
        set_experts(model, name)
        assert _moe_implementations(model) == {name}
        got = [_denoised(model, tokenizer, *case) for case in CASES]
    finally:
        set_experts(model, "auto")
    assert got == expected
    assert all(len(steps) >= 1 for steps in got)


def test_experts_is_a_setting_with_its_values_checked():
    settings, problems = merge_settings(Settings(), {"experts": "batched_mm"})
    assert settings.experts == "batched_mm" and not problems
    kept, problems = merge_settings(settings, {"experts": "fastest"})
    assert kept.experts == "batched_mm" and len(problems) == 1 and "experts" in problems[0]


def test_the_engine_loads_with_its_experts_setting(tiny_model_dir):
    from dglsp.engine import create_engine

    async def main():
        # Through create_engine, as the server builds it from the settings.
        engine = create_engine(Settings(engine="inprocess", model=str(tiny_model_dir), experts="eager"))
        await engine.start()
        try:
            return _moe_implementations(engine._model)
        finally:
            await engine.close()

    assert asyncio.run(main()) == {"eager"}


def test_bench_section_runs_each_implementation_and_restores_the_loaded_one():
    async def main():
        choice = EngineChoice(None, "tiny", False, "cpu", experts="batched_mm")
        async with opened_engine(choice) as engine:
            section = await experts_bench.measure(engine, ["def f(x):\n    return ", "y = "], 8, 3, 1)
            return section, experts_of(model_of(engine))

    section, after = asyncio.run(main())
    assert after == "batched_mm" and section["loaded"] == "batched_mm"
    assert [row["experts"] for row in section["rows"]] == list(IMPLEMENTATIONS)
    for row in section["rows"]:
        assert row["same_tokens_as_first"] and row["same_tokens_every_repeat"]
        assert 0 < row["step_ms"]["p50"] <= row["step_ms"]["p95"]
        assert row["steps"]["p50"] >= 2
    assert "Experts implementation" in experts_bench.render(section)


def test_bench_section_skips_batched_mm_where_its_gathered_weights_do_not_fit(tiny, monkeypatch):
    model, _ = tiny
    needed = experts_bench.batched_mm_bytes(model, 256)
    # One (cell, expert) pair gathers one expert's gate/up and down projections.
    experts = model.model.decoder.layers[0].experts
    pair = (experts.gate_up_proj[0].numel() + experts.down_proj[0].numel()) * 4
    assert needed == 256 * model.config.text_config.top_k_experts * pair
    monkeypatch.setattr(experts_bench, "free_bytes", lambda device: needed)
    assert experts_bench.unavailable("batched_mm", model, 256) is not None
    assert experts_bench.unavailable("grouped_mm", model, 256) is None
    monkeypatch.setattr(experts_bench, "free_bytes", lambda device: needed * 2)
    assert experts_bench.unavailable("batched_mm", model, 256) is None


def test_a_spawned_daemon_gets_the_experts_setting():
    from dglsp.engine.daemon_client import DaemonEngine

    command = DaemonEngine(Settings(engine="auto", model="/m", experts="eager"))._serve_command
    assert command[command.index("--experts") + 1] == "eager"
    assert "--experts" not in DaemonEngine(Settings(engine="auto", model="/m"))._serve_command
