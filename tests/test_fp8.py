"""The `dtype` setting and its fp8 option (dglsp/model/fp8.py): each quantised layer stays close
to its float32 original on the tiny model, the engine loads it through the real loading path and
drafts, the setting reaches the engine from every entry (initializationOptions, the CLI, dglsp
serve, spawned daemons, the OpenAI server), bad values are clear errors, and the bytes halve.
The torch._scaled_mm path needs CUDA 8.9+: its selection is tested with the capability patched,
and its arithmetic on torch's CPU kernel, never the CUDA kernel itself."""

from __future__ import annotations

import asyncio
import copy
import json
import shutil
import time
from pathlib import Path

import pytest
import torch
from lsprotocol import types
from torch import nn

from dglsp.config import Settings, merge_settings
from dglsp.engine.base import EngineState, InfillRequest, ModelUnavailable
from dglsp.model import fp8
from dglsp.model.fp8 import FP8Experts, FP8Linear, convert_to_fp8, scaled_mm_supported
from dglsp.model.loading import choose_precision, dtype_of, load_model

# Relative error (Frobenius norm) of a layer's output with FP8 weights: e4m3 keeps 3 mantissa
# bits, so one weight is off by at most 1/16 of itself and a sum of many by far less.
LAYER_TOLERANCE = 0.05


def _relative_error(got: torch.Tensor, expected: torch.Tensor) -> float:
    return float((got - expected).norm() / expected.norm())


@pytest.fixture(scope="module")
def float_and_fp8(tiny_model_dir):
    """The tiny model in float32 and a converted copy of it."""
    model = load_model(tiny_model_dir, torch.device("cpu"), torch.float32)
    converted = copy.deepcopy(model)
    conversion = convert_to_fp8(converted)
    return model, converted, conversion


def test_every_layer_linear_and_expert_weight_is_converted_and_the_rest_is_not(float_and_fp8):
    model, converted, conversion = float_and_fp8
    for stack in fp8.layer_stacks(model):
        for layer in stack:
            assert isinstance(layer.experts, nn.Module)
    linears = {
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear)
        and ".layers." in name
        and "router" not in name
        and "vision" not in name
    }
    assert linears and {n for n, m in converted.named_modules() if isinstance(m, FP8Linear)} == linears
    experts = {n for n, m in converted.named_modules() if isinstance(m, FP8Experts)}
    assert experts == {n for n, m in model.named_modules() if n.endswith(".experts")}
    # Encoder and decoder share their layers' weights: one FP8 tensor for both.
    decoder, encoder = converted.model.decoder.layers[0], converted.model.encoder.language_model.layers[0]
    assert decoder.self_attn.q_proj.weight is encoder.self_attn.q_proj.weight
    assert decoder.experts.gate_up_proj is encoder.experts.gate_up_proj
    assert conversion.tensors == len(linears) // 2 + len(experts)  # tied: counted once
    expected = {f"{n}.weight" for n in linears} | {
        f"{n}.{w}" for n in experts for w in ("gate_up_proj", "down_proj")
    }
    stored = {n for n, p in converted.named_parameters(remove_duplicate=False) if p.dtype == fp8.FP8}
    assert stored == expected
    # Kept in the working dtype: the tied embedding / head, norms and the router.
    assert converted.lm_head.weight.dtype == torch.float32
    assert converted.lm_head.weight is converted.model.decoder.embed_tokens.weight
    assert isinstance(decoder.router.proj, nn.Linear) and decoder.router.proj.weight.dtype == torch.float32
    assert dtype_of(converted) == "fp8" and dtype_of(model) == "float32"
    assert converted.dtype == torch.float32  # activations stay float32 on the CPU


def test_each_quantised_layer_stays_close_to_the_float_one(float_and_fp8):
    model, converted, _ = float_and_fp8
    torch.manual_seed(0)
    checked = 0
    with torch.no_grad():
        for name, module in converted.named_modules():
            if not isinstance(module, FP8Linear | FP8Experts):
                continue
            original = model.get_submodule(name)
            if isinstance(module, FP8Linear):
                x = torch.randn(3, 5, module.in_features)
                error = _relative_error(module(x), original(x))
            elif isinstance(module, FP8Experts):
                hidden = torch.randn(12, original.hidden_dim)
                top_k = torch.stack([torch.randperm(original.num_experts)[:2] for _ in range(12)])
                weights = torch.softmax(torch.randn(12, 2), dim=-1)
                error = _relative_error(module(hidden, top_k, weights), original(hidden, top_k, weights))
                assert not hasattr(module.implementation, "gate_up_proj")  # only lent for the call
            assert 0 < error < LAYER_TOLERANCE, f"{name}: relative error {error:.4f}"
            checked += 1
    assert checked >= 20


def test_the_bundled_model_keeps_its_logits_and_top_tokens():
    """On trained weights (a random model's logits are nearly flat, so its ranking says nothing):
    the canvas logits move by well under 3 % and the top token stays the same for 9 cells in 10
    (measured 0.3-0.6 % and 95-98 % on three seeds)."""
    from dglsp.engine.model_choice import BUNDLED_DIR

    model = load_model(BUNDLED_DIR, torch.device("cpu"), torch.float32)
    converted = copy.deepcopy(model)
    convert_to_fp8(converted)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(3, 8000, (1, 48), generator=generator)
    canvas = torch.randint(3, 8000, (1, 64), generator=generator)
    with torch.no_grad():
        expected = model(input_ids=ids, decoder_input_ids=canvas).logits
        got = converted(input_ids=ids, decoder_input_ids=canvas).logits
    assert 0 < _relative_error(got, expected) < 0.03
    assert (got.argmax(-1) == expected.argmax(-1)).float().mean() > 0.9


def test_bytes_are_about_halved_against_bfloat16(tiny_model_dir):
    model = load_model(tiny_model_dir, torch.device("cpu"), torch.bfloat16)
    quantised = {
        id(p): p.numel()
        for stack in fp8.layer_stacks(model)
        for name, p in stack.named_parameters()
        if p.dim() >= 2 and ".router." not in f".{name}"
    }
    conversion = convert_to_fp8(model)
    assert conversion.bytes_before == fp8.weight_bytes(load_model(tiny_model_dir, "cpu", torch.bfloat16))
    assert conversion.bytes_after == fp8.weight_bytes(model) == fp8.conversion_of(model).bytes_after
    saved = conversion.bytes_before - conversion.bytes_after
    elements = sum(quantised.values())
    # 2 bytes -> 1 per quantised weight, less 4 bytes of scale per output channel.
    assert 0.9 * elements < saved <= elements
    kept = conversion.bytes_before - 2 * elements
    assert conversion.bytes_after == pytest.approx(kept + elements, rel=0.05)


def test_a_model_without_decoder_layers_is_refused():
    with pytest.raises(ValueError, match="DiffusionGemma"):
        convert_to_fp8(nn.Sequential(nn.Linear(4, 4)))


# --- torch._scaled_mm: chosen on CUDA 8.9+, never on the CPU --------------------------------


@pytest.mark.parametrize(
    ("capability", "expected"), [((9, 0), True), ((8, 9), True), ((8, 6), False), ((7, 5), False)]
)
def test_scaled_mm_is_chosen_from_compute_capability_8_9(monkeypatch, capability, expected):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert scaled_mm_supported(torch.device("cuda:0")) is expected
    assert scaled_mm_supported("cuda") is expected
    assert scaled_mm_supported(torch.device("cpu")) is False


def test_conversion_marks_the_layers_the_kernel_takes_and_cpu_inputs_never_use_it(
    tiny_model_dir, monkeypatch
):
    model = load_model(tiny_model_dir, torch.device("cpu"), torch.float32)
    conversion = convert_to_fp8(model, scaled_mm=True)
    layers = [m for m in model.modules() if isinstance(m, FP8Linear)]
    assert conversion.scaled_mm_layers == sum(m.scaled_mm for m in layers) > 0
    for layer in layers:  # both dimensions must be multiples of 16 for the kernel
        aligned = layer.in_features % 16 == 0 and layer.out_features % 16 == 0
        assert layer.scaled_mm == aligned

    def kernel(*args, **kwargs):
        raise AssertionError("torch._scaled_mm path taken for a CPU tensor")

    monkeypatch.setattr(fp8, "scaled_linear", kernel)
    x = torch.randn(2, layers[0].in_features)
    assert not layers[0].uses_scaled_mm(x)
    expected = nn.functional.linear(x, fp8.dequantise(layers[0].weight, layers[0].weight_scale, x.dtype))
    assert torch.equal(layers[0](x), expected)
    # Conversion for the CPU (the default) never marks a layer.
    assert convert_to_fp8(load_model(tiny_model_dir, "cpu", torch.float32), "cpu").scaled_mm_layers == 0


def test_the_scaled_mm_arithmetic_matches_the_dequantised_linear():
    """torch._scaled_mm's CPU kernel stands in for the CUDA one: same call, same scales."""
    torch.manual_seed(0)
    weight, scale = fp8.quantise(torch.randn(48, 64))
    x = torch.randn(2, 7, 64)
    bias = torch.randn(48)
    expected = nn.functional.linear(x, fp8.dequantise(weight, scale, torch.float32), bias)
    got = fp8.scaled_linear(x, weight, scale, bias)
    assert got.shape == expected.shape
    assert _relative_error(got, expected) < LAYER_TOLERANCE  # only the activations' rounding added


# --- the dtype setting and the loading path ---------------------------------------------------


def test_precision_of_each_dtype_setting():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert choose_precision(cpu, 10**6) == fp8_free(torch.float32)
    assert choose_precision(cpu, 10**11) == fp8_free(torch.bfloat16)  # a large model on a CPU
    assert choose_precision(cuda, 10**6) == fp8_free(torch.bfloat16)
    assert choose_precision(cpu, 10**6, "bfloat16") == fp8_free(torch.bfloat16)
    assert choose_precision(cuda, 10**6, "float32") == fp8_free(torch.float32)
    assert (
        choose_precision(cpu, 10**6, "fp8").fp8 and choose_precision(cpu, 0, "fp8").compute == torch.float32
    )
    assert choose_precision(cuda, 10**6, "fp8").compute == torch.bfloat16
    assert choose_precision(cuda, 0, "fp8").name == "fp8"


def fp8_free(dtype):
    from dglsp.model.loading import Precision

    return Precision(dtype)


def test_a_bad_dtype_is_a_clear_error_everywhere(tiny_model_dir, capsys):
    from dglsp.cli.main import main
    from dglsp.engine import create_engine

    with pytest.raises(ModelUnavailable, match=r"Unknown dtype 'fp16'\. Use auto, bfloat16, float32, fp8"):
        choose_precision(torch.device("cpu"), 0, "fp16")
    kept, problems = merge_settings(Settings(dtype="fp8"), {"dtype": "fp16"})
    assert kept.dtype == "fp8" and len(problems) == 1 and "dtype" in problems[0] and "fp16" in problems[0]
    with pytest.raises(SystemExit) as exit_info:
        main(["complete", "x.py:1:1", "--dtype", "fp16"])
    assert exit_info.value.code == 2 and "invalid choice: 'fp16'" in capsys.readouterr().err

    async def start():  # an engine built past the settings' check fails with the same message
        engine = create_engine(Settings(engine="inprocess", model=str(tiny_model_dir), dtype="fp16"))
        await engine.start()
        state, error = engine.state, engine.error
        await engine.close()
        return state, error

    state, error = asyncio.run(start())
    assert state is EngineState.ERROR and "Unknown dtype 'fp16'" in error


def test_the_engine_loads_fp8_through_the_real_path_and_drafts(tiny_model_dir):
    from dglsp.engine import create_engine

    async def main():
        # Through create_engine, as the server builds it from the settings.
        engine = create_engine(
            Settings(engine="inprocess", model=str(tiny_model_dir), device="cpu", dtype="fp8")
        )
        await engine.start()
        try:
            assert engine.state is EngineState.READY, engine.error
            drafts = [d async for d in engine.infill(InfillRequest("def mean(values):\n    ", steps=4))]
            return engine._model, drafts
        finally:
            await engine.close()

    model, drafts = asyncio.run(main())
    assert (
        dtype_of(model) == "fp8"
        and fp8.conversion_of(model).bytes_after < fp8.conversion_of(model).bytes_before
    )
    assert 1 <= len(drafts) <= 4 and drafts[-1].final and isinstance(drafts[-1].text, str)


def test_memory_check_counts_fp8_weights_on_a_gpu(tiny_model_dir, monkeypatch):
    from dglsp.model import loading

    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (10**12, 10**12))
    cuda = torch.device("cuda")
    share = loading.fp8_share(tiny_model_dir)
    assert 0.3 < share < 1
    bf16 = loading.memory_check(tiny_model_dir, cuda, "bfloat16").needed_bytes
    fp8_needed = loading.memory_check(tiny_model_dir, cuda, "fp8").needed_bytes
    assert fp8_needed == pytest.approx(bf16 * (1 - share / 2), rel=0.01)
    # On the CPU the model is loaded unquantised first: the check is the float32 load's.
    cpu = torch.device("cpu")
    on_cpu = [loading.memory_check(tiny_model_dir, cpu, dtype).needed_bytes for dtype in ("fp8", "float32")]
    assert on_cpu[0] == on_cpu[1]


# --- the setting reaches the engine from every entry ------------------------------------------


def test_dtype_is_a_setting_with_its_values_checked():
    settings, problems = merge_settings(Settings(), {"dtype": "fp8"})
    assert settings.dtype == "fp8" and not problems
    assert Settings().dtype == "auto"


def test_the_cli_flag_sets_it_for_the_server_and_commands():
    from dglsp.cli.common import settings_from_args
    from dglsp.cli.main import build_parser

    parser = build_parser()
    assert settings_from_args(parser.parse_args(["--stdio", "--dtype", "fp8"])).dtype == "fp8"
    assert settings_from_args(parser.parse_args(["complete", "a.py:1:1", "--dtype", "bfloat16"])).dtype == (
        "bfloat16"
    )
    assert settings_from_args(parser.parse_args(["--stdio"])).dtype == "auto"


def test_dglsp_serve_and_the_daemon_entry_pass_it_to_the_engine(tiny_model_dir, monkeypatch):
    from dglsp.cli.main import main
    from dglsp.daemon import __main__ as daemon_entry
    from dglsp.daemon import main as daemon_main

    seen = []
    monkeypatch.setattr(daemon_main, "run", lambda options: seen.append(options) or 0)
    monkeypatch.setattr(daemon_entry, "run", lambda options: seen.append(options) or 0)
    assert main(["serve", "--model", str(tiny_model_dir), "--dtype", "fp8"]) == 0
    assert daemon_entry.main(["--model", "/m", "--dtype", "bfloat16"]) == 0
    assert [options.dtype for options in seen] == ["fp8", "bfloat16"]
    engine = daemon_main._engine_factory(seen[0], str(tiny_model_dir))()
    assert engine._dtype_setting == "fp8"


def test_a_spawned_daemon_gets_the_dtype_setting():
    from dglsp.engine.daemon_client import DaemonEngine

    command = DaemonEngine(Settings(engine="auto", model="/m", dtype="fp8"))._serve_command
    assert command[command.index("--dtype") + 1] == "fp8"
    assert "--dtype" not in DaemonEngine(Settings(engine="auto", model="/m"))._serve_command


def test_the_openai_server_takes_it():
    from dglsp.openai_server.__main__ import build_parser

    assert build_parser().parse_args(["--model", "m", "--dtype", "fp8"]).dtype == "fp8"
    assert build_parser().parse_args(["--model", "m"]).dtype == "auto"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--model", "m", "--dtype", "int4"])


async def _until(condition, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_initialization_options_reach_the_engine_and_a_change_restarts_it(scripted_lsp):
    session = await scripted_lsp({}, init_options={"dtype": "fp8"})
    state = await session.state()
    assert state["settings"]["dtype"] == "fp8" and len(state["engines"]) == 1
    session.client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"dglsp": {"dtype": "bfloat16"}})
    )

    async def restarted() -> bool:
        return len((await session.state())["engines"]) == 2

    await _until(restarted, "the engine rebuilt for the new dtype")
    assert (await session.state())["settings"]["dtype"] == "bfloat16"


# --- the benches ------------------------------------------------------------------------------


def _bench_args(argv: list[str]):
    import argparse

    from dglsp.cli import bench as bench_cli

    parser = argparse.ArgumentParser(prog="dglsp")
    parser.add_argument("--model", default=None)
    parser.add_argument("--device", default=None)
    bench_cli.add_parser(parser.add_subparsers(dest="command"))
    return bench_cli, parser.parse_args(argv)


def test_bench_quality_puts_float32_and_fp8_side_by_side(tiny_model_dir, tmp_path, capsys):
    import colorsys

    from dglsp.bench.quality.render import render_quality
    from dglsp.training.data import split_of

    data = tmp_path / "data"
    (data / "pkg").mkdir(parents=True)
    name = next(f"pkg/mod{i}.py" for i in range(2000) if split_of(f"pkg/mod{i}.py") == "heldout")
    shutil.copyfile(colorsys.__file__, data / name)
    argv = ["bench", "quality", "--model", str(tiny_model_dir), "--data", str(data), "--steps", "2"]
    argv += ["--dtype", "float32,fp8", "--cases-per-kind", "1", "--no-floor", "--device", "cpu", "--json"]
    bench_cli, args = _bench_args(argv)
    assert bench_cli.run(args) == 0
    report = json.loads(capsys.readouterr().out)
    model = Path(tiny_model_dir).name
    rows = report["rows"]
    assert [(r["name"], r["dtype"]) for r in rows] == [
        (f"{model}, 2 steps, float32", "float32"),
        (f"{model}, 2 steps, fp8", "fp8"),
    ]
    assert report["settings"]["dtypes"] == ["float32", "fp8"]
    count = report["cases"]["count"]
    assert count >= 2 and all(r["error"] is None and r["overall"]["n"] == count for r in rows)
    [agreement] = report["dtype_agreement"]
    float_answers = [c["prediction"] for c in report["per_case"][rows[0]["name"]]]
    fp8_answers = [c["prediction"] for c in report["per_case"][rows[1]["name"]]]
    assert agreement["row"] == rows[1]["name"] and agreement["reference"] == rows[0]["name"]
    assert agreement["same_answer"] == sum(a == b for a, b in zip(float_answers, fp8_answers, strict=True))
    assert "Same answer as the first dtype" in render_quality(report)
    with pytest.raises(SystemExit):
        _bench_args(["bench", "quality", "--data", str(data), "--dtype", "fp8,fp8"])


def test_bench_engine_random_weights_with_fp8_counts_its_bytes(monkeypatch, capsys):
    """--config small --random-weights --dtype fp8: PrebuiltEngine converts the model it built
    (the GPU path at full size), and the report's weights and floor are the FP8 bytes."""
    from dglsp.bench import models
    from dglsp.testing.tiny_model import tiny_config

    # The tiny geometry under --config small, so that it runs in seconds on a CPU.
    monkeypatch.setattr(models, "diffusion_config", lambda name: tiny_config(1024))
    argv = ["bench", "engine", "--config", "small", "--random-weights", "--dtype", "fp8", "--no-baseline"]
    argv += ["--repeat", "1", "--steps", "2", "--prefill-tokens", "160", "--middles", "8", "--threads", "1"]
    bench_cli, args = _bench_args([*argv, "--json"])
    assert bench_cli.run(args) == 0
    report = json.loads(capsys.readouterr().out)
    engine = report["engine"]
    assert engine["class"] == "PrebuiltEngine" and engine["dtype"] == "fp8"
    assert engine["compute_dtype"] == "float32"
    assert engine["weight_bytes"] == engine["fp8"]["bytes_after"] < 0.6 * engine["fp8"]["bytes_before"]
    step = report["floor"]["by_middle"]["8"]
    assert step["expert_bytes"] < engine["fp8"]["bytes_after"]  # counted at one byte per weight
