"""`dglsp train --objective causal`: the autoregressive baseline trains on the diffusion trainer's
own examples, its loss falls, its checkpoints resume exactly and its output loads back."""

from __future__ import annotations

import argparse
import io
import json
import random
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from dglsp.training import causal_batch
from dglsp.training.causal import CausalOptions, train_causal


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    import bisect
    import colorsys
    import fnmatch
    import heapq

    root = tmp_path_factory.mktemp("causal-data")
    for module in (bisect, colorsys, fnmatch, heapq):
        shutil.copyfile(module.__file__, root / Path(module.__file__).name)
    return root


def _options(data_dir: Path, out: Path, tokenizer: Path, **overrides) -> CausalOptions:
    base = dict(
        data=[str(data_dir)],
        out=str(out),
        tokenizer=str(tokenizer),
        config="tiny",
        steps=6,
        batch_size=3,
        checkpoint_every=3,
        context_budget=96,
    )
    return CausalOptions(**(base | overrides))


@pytest.fixture(scope="module")
def trained(data_dir, tiny_model_dir, tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("causal-run") / "baseline"
    result = train_causal(_options(data_dir, out, tiny_model_dir), stream=io.StringIO())
    return out, result


def _builder(tokenizer_dir: Path, canvas: int = 32):
    from transformers import AutoTokenizer

    from dglsp.config import Settings
    from dglsp.model.tokenizer import ModelTokenizer
    from dglsp.training.examples import ExampleBuilder

    hf = AutoTokenizer.from_pretrained(tokenizer_dir)
    return ExampleBuilder(ModelTokenizer(hf, [hf.eos_token_id]), canvas, Settings(context_budget=96))


def test_sequences_are_the_prompt_then_the_middle_and_only_the_middle_is_a_target(data_dir, tiny_model_dir):
    from dglsp.training.data import split_files

    builder = _builder(tiny_model_dir)
    files = split_files([data_dir], heldout_fraction=0.0).train
    examples = builder.sample(files, random.Random(3), 6)
    batch = causal_batch.causal_collate(examples, builder.pad_id)
    for row, example in enumerate(examples):
        prompt, middle = len(example.prompt_ids), example.middle_tokens
        assert batch.input_ids[row, :prompt].tolist() == example.prompt_ids
        # The prompt is the diffusion model's: dglsp's FIM template, ending at <|fim_middle|>.
        assert example.prompt_text.endswith("<|fim_middle|>")
        target = batch.labels[row][batch.labels[row] != causal_batch.IGNORE].tolist()
        assert target[:middle] == builder.tokenizer.encode(example.middle)[:middle]
        if not example.truncated:
            assert target == [*target[:middle], builder.eos_id]
        assert batch.input_ids[row, prompt : prompt + len(target)].tolist() == target
        assert (batch.labels[row, :prompt] == causal_batch.IGNORE).all()
        assert int(batch.attention_mask[row].sum()) == prompt + len(target)


def test_loss_only_on_target_positions_equals_the_full_next_token_loss(data_dir, tiny_model_dir):
    import torch.nn.functional as F

    from dglsp.training.causal_model import build_causal_model
    from dglsp.training.data import split_files

    builder = _builder(tiny_model_dir)
    files = split_files([data_dir], heldout_fraction=0.0).train
    batch = causal_batch.causal_collate(builder.sample(files, random.Random(0), 3), builder.pad_id)
    model = build_causal_model("tiny", len(builder.tokenizer.hf), 32, seed=0)
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    full = F.cross_entropy(
        logits[:, :-1].flatten(0, 1).float(), batch.labels[:, 1:].flatten(), ignore_index=causal_batch.IGNORE
    )
    assert torch.allclose(causal_batch.causal_loss(model, batch), full, atol=1e-5)


def test_loss_falls_on_a_fixed_batch(data_dir, tiny_model_dir):
    from dglsp.training.causal_model import build_causal_model
    from dglsp.training.data import split_files

    torch.set_num_threads(1)
    builder = _builder(tiny_model_dir)
    files = split_files([data_dir], heldout_fraction=0.0).train
    batch = causal_batch.causal_collate(builder.sample(files, random.Random(0), 4), builder.pad_id)
    model = build_causal_model("tiny", len(builder.tokenizer.hf), 32, seed=0).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    before = causal_batch.evaluate_causal(model, batch)
    losses = []
    for _ in range(30):
        loss = causal_batch.causal_loss(model, batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    after = causal_batch.evaluate_causal(model, batch)
    assert after < before - 1.0, (before, after)
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 1.0, losses


def test_a_run_writes_a_causal_model_that_loads_back_with_the_given_tokenizer(trained, tiny_model_dir):
    from transformers import AutoTokenizer

    from dglsp.training.causal_model import canvas_length_of, load_causal_model, parameter_counts

    out, result = trained
    assert (result.first_step, result.last_step) == (0, 6) and len(result.losses) == 6
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["Gemma4ForCausalLM"]
    model = load_causal_model(out)
    # The canvas of the diffusion model it was given is its longest middle.
    assert canvas_length_of(model) == 32
    ours, theirs = AutoTokenizer.from_pretrained(out), AutoTokenizer.from_pretrained(tiny_model_dir)
    assert ours.get_vocab() == theirs.get_vocab()
    text = "def area(w, h):\n    return w * h\n"
    assert ours.encode(text) == theirs.encode(text)
    # The saved weights are the trained ones: same logits as a second load, finite.
    ids = torch.tensor([ours.encode(text)])
    again = load_causal_model(out)
    assert torch.equal(model(input_ids=ids).logits, again(input_ids=ids).logits)
    total, active = parameter_counts(model)
    assert 0 < active < total
    info = json.loads((out / "training.json").read_text())
    assert info["objective"] == "causal" and info["step"] == 6
    assert (info["parameters"], info["active_parameters"]) == (total, active)


def test_the_baseline_is_the_diffusion_presets_size():
    from transformers import DiffusionGemmaForBlockDiffusion, Gemma4ForCausalLM

    from dglsp.training.causal_model import causal_model_config, parameter_counts
    from dglsp.training.presets import PRESETS, model_config

    with torch.device("meta"):
        causal = Gemma4ForCausalLM(causal_model_config("small", 8192, 64))
        diffusion = DiffusionGemmaForBlockDiffusion(model_config(PRESETS["small"], 8192, 64))
    (causal_total, causal_active), (diffusion_total, diffusion_active) = map(
        parameter_counts, (causal, diffusion)
    )
    # Only the decoder's self-conditioning MLP (and a tiny vision stub) is missing: within 5 %.
    assert abs(causal_total - diffusion_total) < 0.05 * diffusion_total
    assert abs(causal_active - diffusion_active) < 0.05 * diffusion_active


def test_resume_continues_exactly_where_an_interrupted_run_stopped(
    trained, data_dir, tiny_model_dir, tmp_path, monkeypatch
):
    reference, full = trained
    out = tmp_path / "baseline"
    original = causal_batch.causal_loss
    calls = []

    def killed_in_step_5(model, batch):
        calls.append(1)
        if len(calls) == 5:  # steps 1-3 are checkpointed, step 4 ran, step 5 dies
            raise KeyboardInterrupt
        return original(model, batch)

    monkeypatch.setattr(causal_batch, "causal_loss", killed_in_step_5)
    with pytest.raises(KeyboardInterrupt):
        train_causal(_options(data_dir, out, tiny_model_dir), stream=io.StringIO())
    monkeypatch.setattr(causal_batch, "causal_loss", original)
    assert torch.load(out / "trainer_state.pt", weights_only=False)["step"] == 3

    resumed = train_causal(
        _options(data_dir, out, tiny_model_dir, resume=True, batch_size=99, lr=1.0), stream=io.StringIO()
    )
    assert (resumed.first_step, resumed.last_step) == (3, 6)
    assert resumed.losses == full.losses[3:]
    ours, theirs = load_file(out / "model.safetensors"), load_file(reference / "model.safetensors")
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_cli_objective_causal_trains_and_resumes_as_causal(data_dir, tiny_model_dir, tmp_path, capsys):
    from dglsp.cli import train as train_command
    from dglsp.cli.common import CliError

    parser = argparse.ArgumentParser()
    train_command.add_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "cli"
    argv = ["train", "--objective", "causal", "--tokenizer", str(tiny_model_dir), "--data", str(data_dir)]
    argv += ["--out", str(out), "--config", "tiny", "--batch-size", "2", "--threads", "1"]
    assert train_command.run(parser.parse_args([*argv, "--steps", "2"])) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == [0, 2]
    assert json.loads((out / "config.json").read_text())["architectures"] == ["Gemma4ForCausalLM"]
    # --resume without --objective continues the causal run it finds.
    resume = ["train", "--out", str(out), "--resume", "--steps", "3"]
    assert train_command.run(parser.parse_args(resume)) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == [2, 3]
    assert json.loads((out / "config.json").read_text())["architectures"] == ["Gemma4ForCausalLM"]
    with pytest.raises(CliError, match="--tokenizer is for --objective causal"):
        plain = ["train", "--data", str(data_dir), "--out", str(tmp_path / "x"), "--tokenizer", "y"]
        train_command.run(parser.parse_args(plain))
