"""`dglsp train` end to end on a tiny config: the loss falls, checkpoints resume exactly, and the
output directory is a model the engine answers with."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from dglsp.training import loop
from dglsp.training.loop import TrainOptions, train

JS = "export function area(w, h) {\n  const a = w * h;\n  return a;\n}\n\nconst half = (x) => x / 2;\n"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    import bisect
    import colorsys
    import fnmatch
    import heapq
    import shlex

    root = tmp_path_factory.mktemp("train-data")
    for module in (bisect, colorsys, fnmatch, heapq, shlex):
        shutil.copyfile(module.__file__, root / Path(module.__file__).name)
    (root / "area.js").write_text(JS, encoding="utf-8")
    return root


def _options(data_dir: Path, out: Path, **overrides) -> TrainOptions:
    base = dict(data=[str(data_dir)], out=str(out), config="tiny", steps=6, batch_size=3, checkpoint_every=3)
    return TrainOptions(**(base | overrides))


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
    """One tiny run, checkpointed every 3 steps; shared by the tests that only read it."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("run") / "model"
    result = train(_options(data_dir, out), stream=io.StringIO())
    return out, result


def test_loss_falls_on_a_fixed_batch(data_dir):
    from transformers import DiffusionGemmaForBlockDiffusion

    from dglsp.config import Settings
    from dglsp.model.tokenizer import ModelTokenizer
    from dglsp.testing.tiny_model import build_tokenizer
    from dglsp.training.batch import collate
    from dglsp.training.data import split_files
    from dglsp.training.examples import ExampleBuilder
    from dglsp.training.objective import diffusion_loss, evaluate
    from dglsp.training.presets import PRESETS, model_config

    torch.set_num_threads(1)
    hf = build_tokenizer()
    builder = ExampleBuilder(ModelTokenizer(hf, [hf.eos_token_id]), 32, Settings(context_budget=96))
    files = split_files([data_dir], heldout_fraction=0.0).train
    batch = collate(builder.sample(files, random.Random(0), 4), builder.pad_id, pad_weight=0.25)
    torch.manual_seed(0)
    model = DiffusionGemmaForBlockDiffusion(model_config(PRESETS["tiny"], len(hf), 32)).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)

    # Fixed corruption (seed 99) before and after: the only difference is the training.
    before = evaluate(model, batch, seed=99)
    losses = []
    for step in range(30):
        loss = diffusion_loss(model, batch, torch.Generator().manual_seed(step))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    after = evaluate(model, batch, seed=99)
    assert after < before - 1.0, (before, after)
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 1.0, losses


def test_a_run_writes_a_loadable_model_and_its_record(trained):
    out, result = trained
    assert (result.first_step, result.last_step) == (0, 6)
    assert len(result.losses) == 6 and all(0 < x < 20 for x in result.losses)
    for name in ("config.json", "model.safetensors", "tokenizer.json", "generation_config.json"):
        assert (out / name).is_file(), name
    info = json.loads((out / "training.json").read_text())
    assert info["step"] == 6 and info["options"]["config"] == "tiny"
    assert 0 < info["total_seconds"] < 60
    assert info["data"]["files"]["javascript"]["train"] + info["data"]["files"]["javascript"]["heldout"] == 1
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, 7))
    assert [r["loss"] for r in log] == [round(x, 5) for x in result.losses]


def test_resume_continues_exactly_where_an_interrupted_run_stopped(trained, data_dir, tmp_path, monkeypatch):
    reference, full = trained
    out = tmp_path / "model"
    original = loop.step_seed

    def killed_in_step_5(seed: int, step: int) -> int:
        if step == 4:  # 0-based: steps 1-3 are checkpointed, step 4 ran, step 5 dies
            raise KeyboardInterrupt
        return original(seed, step)

    monkeypatch.setattr(loop, "step_seed", killed_in_step_5)
    with pytest.raises(KeyboardInterrupt):
        train(_options(data_dir, out), stream=io.StringIO())
    monkeypatch.setattr(loop, "step_seed", original)
    assert torch.load(out / "trainer_state.pt", weights_only=False)["step"] == 3

    # Options given on resume other than steps/threads/device are the saved run's.
    resumed = train(_options(data_dir, out, resume=True, batch_size=99, lr=1.0), stream=io.StringIO())
    assert (resumed.first_step, resumed.last_step) == (3, 6)
    assert resumed.losses == full.losses[3:]
    ours, theirs = load_file(out / "model.safetensors"), load_file(reference / "model.safetensors")
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    log = [json.loads(line)["step"] for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert log == list(range(1, 7))


def test_a_finished_run_is_not_overwritten_without_resume(trained, data_dir):
    out, _ = trained
    with pytest.raises(ValueError, match="--resume"):
        train(_options(data_dir, out))


def test_trained_directory_answers_through_the_engine(trained):
    from dglsp.config import Settings
    from dglsp.engine import EngineState, InfillRequest, create_engine
    from dglsp.model.loading import choose_device, load_model, resolve_model
    from dglsp.model.tokenizer import load_tokenizer

    out, _ = trained
    path = resolve_model(str(out))
    model = load_model(path, choose_device("cpu"), torch.float32)
    tokenizer = load_tokenizer(path)
    assert model.config.canvas_length == 32
    assert tokenizer.has_token("<|fim_middle|>") and tokenizer.end_of_middle_ids >= {0, 1}

    async def drafts():
        engine = create_engine(Settings(engine="inprocess", model=str(out), device="cpu"))
        await engine.start()
        assert engine.state is EngineState.READY, engine.error
        prompt = "<bos><|fim_suffix|>\n<|fim_prefix|>def area(w, h):\n    return<|fim_middle|>"
        result = [d async for d in engine.infill(InfillRequest(prompt, steps=4))]
        await engine.close()
        return result

    result = asyncio.run(drafts())
    assert 1 <= len(result) <= 4 and result[-1].final


def test_export_stores_bfloat16_weights_that_load_as_a_model(trained, tmp_path):
    from dglsp.model.loading import estimate_model_bytes, resolve_model
    from dglsp.training.checkpoint import export_model

    out, _ = trained
    shipped = export_model(out, tmp_path / "shipped")
    assert not (shipped / "trainer_state.pt").exists()
    assert estimate_model_bytes(shipped) < 0.6 * estimate_model_bytes(out)
    assert json.loads((shipped / "config.json").read_text())["dtype"] == "bfloat16"
    assert resolve_model(str(shipped)) == shipped.resolve()


def test_cli_trains_from_scratch_and_continues_from_init(data_dir, tmp_path, capsys):
    from dglsp.cli import train as train_command

    parser = argparse.ArgumentParser()
    train_command.add_parser(parser.add_subparsers(dest="command"))
    first = tmp_path / "first"
    argv = ["train", "--data", str(data_dir), "--out", str(first), "--config", "tiny", "--steps", "2"]
    assert train_command.run(parser.parse_args([*argv, "--batch-size", "2", "--threads", "1"])) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == [0, 2] and summary["out"] == str(first)

    # --resume without --steps keeps the run's own total (and so its LR schedule): a finished
    # run stays finished instead of training on to a default.
    assert train_command.run(parser.parse_args(["train", "--out", str(first), "--resume"])) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == [2, 2]
    assert json.loads((first / "training.json").read_text())["options"]["steps"] == 2

    second = tmp_path / "second"
    argv = ["train", "--data", str(data_dir), "--out", str(second), "--init", str(first), "--steps", "1"]
    assert train_command.run(parser.parse_args([*argv, "--batch-size", "2", "--canvas-length", "24"])) == 0
    assert json.loads((second / "config.json").read_text())["canvas_length"] == 24
    assert (second / "tokenizer.json").read_text() == (first / "tokenizer.json").read_text()


def test_cli_rejects_bad_arguments(tmp_path):
    from dglsp.cli import train as train_command
    from dglsp.cli.common import CliError

    parser = argparse.ArgumentParser()
    train_command.add_parser(parser.add_subparsers(dest="command"))
    with pytest.raises(CliError, match="--data"):
        train_command.run(parser.parse_args(["train", "--out", str(tmp_path / "x")]))
    with pytest.raises(CliError, match="nothing to resume"):
        train_command.run(parser.parse_args(["train", "--out", str(tmp_path / "x"), "--resume"]))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CliError, match="no source files"):
        train_command.run(parser.parse_args(["train", "--data", str(empty), "--out", str(tmp_path / "y")]))
