"""The denoising step's optimisations keep every text: fewer passes over the logits
(`dglsp.model.denoise.sample`) and one device-to-host copy per step (`Canvas.advance` +
`read_host`, also across the canvases of a batched pass), checked against the step as it was
(`dglsp.bench.step.ReferenceCanvas`) on the tiny model over many seeds and prompts."""

from __future__ import annotations

import pytest
import torch
from transformers import DynamicCache

from dglsp.bench import step as step_bench
from dglsp.bench.step import HostReads, ReferenceCanvas, reference_sample, stub_model
from dglsp.engine.batching import Lane, LaneJob
from dglsp.model.denoise import Canvas, DenoiseSettings, Layout, encode_prompt, sample
from dglsp.model.loading import load_model
from dglsp.model.tokenizer import load_tokenizer


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_model(tiny_model_dir, torch.device("cpu"), torch.float32), load_tokenizer(tiny_model_dir)


@pytest.mark.parametrize("shape", [(1, 16, 32), (3, 40, 1024), (2, 8, 262_144)])
def test_sample_draws_what_the_old_step_drew(shape):
    logits = torch.randn(*shape, generator=torch.Generator().manual_seed(sum(shape))) * 5
    ours_generator = torch.Generator().manual_seed(11)
    old_generator = torch.Generator().manual_seed(11)
    sampled, argmax, entropy = sample(logits, ours_generator)
    old_sampled, old_argmax, old_entropy = reference_sample(logits, old_generator)
    assert torch.equal(sampled, old_sampled) and torch.equal(argmax, old_argmax)
    # The generator is left where the old step left it: the re-noise draws after it match too.
    assert torch.equal(ours_generator.get_state(), old_generator.get_state())
    assert torch.allclose(entropy, old_entropy, rtol=1e-5, atol=1e-5)
    assert entropy.shape == shape[:2] and bool((entropy >= -1e-6).all())


def _run(canvas_class, model, ids: list[int], settings: DenoiseSettings, layout, end_ids):
    cache = encode_prompt(model, ids) if hasattr(model, "get_encoder") else DynamicCache()
    canvas = canvas_class(model, cache, len(ids), settings, layout, end_ids)
    results = []
    while True:
        result = canvas.step(canvas.forward(model))
        results.append(result)
        if result.finished:
            return results


PROMPTS = ["def mean(values):\n    return ", "import os\n" * 30, "x = ["]


@pytest.mark.parametrize("bound", [0.1, 4.0])
def test_the_step_gives_the_old_steps_text_over_many_seeds(tiny, bound):
    model, tokenizer = tiny
    compared = 0
    for index, prompt in enumerate(PROMPTS):
        ids = tokenizer.encode(prompt)
        for seed in range(4):
            layout = None
            width = 10 + 3 * seed
            if seed % 2:  # several rows: the best row is picked on the device now
                layout = Layout.pinned_suffix((2, 5, width - 3), [40, 41, 42], width, 0)
            settings = DenoiseSettings(width, max_steps=6, entropy_bound=bound, seed=seed + 100 * index)
            ours = _run(Canvas, model, ids, settings, layout, tokenizer.end_of_middle_ids)
            old = _run(ReferenceCanvas, model, ids, settings, layout, tokenizer.end_of_middle_ids)
            assert ours == old, (prompt, seed)
            compared += 1
    assert compared == len(PROMPTS) * 4


class _Settling:
    """A stand-in model that grows sure of a middle ending in EOS (so runs stop at different
    steps), with seeded noise elsewhere that depends on the canvas it is given."""

    def __init__(self, vocab: int = 64, eos: int = 1) -> None:
        stub = stub_model(vocab)
        self.device, self.config, self.model = stub.device, stub.config, stub.model
        self.vocab, self.eos = vocab, eos

    def __call__(self, decoder_input_ids, self_conditioning_logits=None, **_):
        rows, width = decoder_input_ids.shape
        generator = torch.Generator().manual_seed(int(decoder_input_ids.sum()))
        logits = torch.randn(rows, width, self.vocab, generator=generator)
        sureness = 2.0 if self_conditioning_logits is None else 9.0
        for cell, token in enumerate([5, 6, 7, self.eos]):
            logits[:, cell, token] += sureness
        return type("Out", (), {"logits": logits})()


def test_stopping_and_the_best_row_match_the_old_step():
    model = _Settling()
    endings = set()
    for seed in range(12):
        layout = Layout.pinned_suffix((3, 6, 9), [40, 41], 12, 0) if seed % 2 else None
        settings = DenoiseSettings(12, max_steps=10, entropy_bound=1.0 + seed / 4, seed=seed)
        ours = _run(Canvas, model, [2, 3], settings, layout, frozenset({1}))
        old = _run(ReferenceCanvas, model, [2, 3], settings, layout, frozenset({1}))
        assert ours == old, seed
        endings.add(ours[-1].step)
    assert min(endings) < 10  # some runs stopped early: the stopping decision was compared


def test_one_host_read_per_step_where_the_old_step_made_three_or_four(tiny):
    model, tokenizer = tiny
    ids = tokenizer.encode("def f(x):\n    return ")
    for layout, old_reads in ((None, 3), (Layout.pinned_suffix((2, 6), [40, 41], 10, 0), 4)):
        for canvas_class, expected in ((Canvas, 1), (ReferenceCanvas, old_reads)):
            canvas = canvas_class(
                model, encode_prompt(model, ids), len(ids), DenoiseSettings(10, max_steps=3), layout
            )
            for _ in range(3):
                logits = canvas.forward(model)
                with HostReads() as reads:
                    canvas.step(logits)
                assert len(reads.names) == expected, (canvas_class.__name__, reads.names)


class _Uniform:
    """A stand-in model whose logits never settle: every request runs all its steps."""

    def __init__(self, vocab: int) -> None:
        stub = stub_model(vocab)
        self.device, self.config, self.model = stub.device, stub.config, stub.model
        self.passes = 0

    def __call__(self, decoder_input_ids, **_):
        self.passes += 1
        rows, width = decoder_input_ids.shape
        return type("Out", (), {"logits": torch.zeros(rows, width, self.config.text_config.vocab_size)})()


class _Running:
    def __init__(self, canvas: Canvas) -> None:
        self.canvas = canvas
        self.results = []

    def draft(self, result):
        self.results.append(result)
        return result

    def finish(self) -> None:
        pass


def test_a_batched_pass_reads_the_host_once_for_all_its_canvases():
    model = _Uniform(vocab=64)
    steps = 5
    queued = []
    done = object()
    lane = Lane(lambda: model, queued.append, done, RuntimeError, RuntimeError, max_batch=3)
    runnings, emitted = [], []
    for seed in range(3):
        settings = DenoiseSettings(8 + seed, max_steps=steps, seed=seed, infill_stop=False)

        def prepare(settings=settings):
            running = _Running(Canvas(model, DynamicCache(), 4, settings))
            runnings.append(running)
            return running

        lane.submit(LaneJob(prepare, lambda: False, emitted.append))
    assert len(queued) == 1  # the lane's loop, not yet run: all three are waiting
    with HostReads() as reads:
        queued[0]()
    assert [len(running.results) for running in runnings] == [steps] * 3
    assert emitted.count(done) == 3
    assert model.passes == 3 * steps  # not packable: one forward per canvas, in the same pass
    assert reads.names == ["tolist"] * steps  # one copy per pass, not one per canvas


def test_step_bench_reports_before_and_after_in_one_run():
    report = step_bench.run([(512, 16, 2)], repeat=1)
    (case,) = report["cases"]
    assert case["same_draws"] and case["entropy_max_abs_difference"] < 1e-4
    assert case["host_reads_per_step"] == {"reference_step": 4, "step": 1}
    for name in ("sample", "reference_sample", "multinomial", "step", "reference_step"):
        assert 0 < case["ms"][name]["p50"] <= case["ms"][name]["p95"]
    assert "sampling before" in step_bench.render(report)
