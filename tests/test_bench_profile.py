"""One step under torch.profiler (`dglsp.bench.profile`), the step bench's `--device`, and the
opt-in compiled forward (`dglsp.model.compiled`): same logits and same text as eager."""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest
import torch

from dglsp.bench import profile as profile_bench
from dglsp.bench import step as step_bench
from dglsp.model.compiled import CompiledForward
from dglsp.model.denoise import Canvas, DenoiseSettings, encode_prompt
from dglsp.model.loading import load_model
from dglsp.model.tokenizer import load_tokenizer

PROMPTS = ["def mean(values):\n    return ", "import os\nimport sys\n" * 6, "x = [1, 2"]


@contextmanager
def _dynamo_state():
    """Compiled graphs and recompile counts do not leak out, nor does torch.compile's switch of
    torch.distributions' argument validation to off for the whole process (it would change
    the host reads the step tests count for the old step's Categorical)."""
    validate = torch.distributions.Distribution._validate_args
    torch._dynamo.reset()
    try:
        yield
    finally:
        torch._dynamo.reset()
        torch.distributions.Distribution.set_default_validate_args(validate)


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    with _dynamo_state():
        yield


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_model(tiny_model_dir, torch.device("cpu"), torch.float32), load_tokenizer(tiny_model_dir)


class Counting:
    """A torch.compile backend that counts the graphs it is given, then runs `backend`'s."""

    def __init__(self, backend: str = "aot_eager") -> None:
        self.graphs, self.backend = 0, backend
        self.__name__ = f"counting_{backend}"

    def __call__(self, graph, example_inputs):
        from torch._dynamo.backends.registry import lookup_backend

        self.graphs += 1
        return lookup_backend(self.backend)(graph, example_inputs)


def _canvas(model, tokenizer, prompt: str, width: int = 12, seed: int = 0, steps: int = 6) -> Canvas:
    ids = tokenizer.encode(prompt)
    settings = DenoiseSettings(width, max_steps=steps, seed=seed)
    return Canvas(model, encode_prompt(model, ids), len(ids), settings, None, tokenizer.end_of_middle_ids)


def _loop(canvas: Canvas, forward) -> list:
    results = []
    while True:
        result = canvas.step(forward(canvas))
        results.append(result)
        if result.finished:
            return results


# --- the profile bench ---


@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    """`python -m dglsp.bench.profile` on the tiny config, CPU, with a trace and a compile
    comparison that only traces (aot_eager), as a test can afford."""
    folder = tmp_path_factory.mktemp("profile")
    output, trace = folder / "report.json", folder / "trace.json"
    with _dynamo_state():
        profile_bench.main(
            [
                "--config", "tiny", "--device", "cpu", "--steps", "12", "--top", "6", "--repeat", "2",
                "--trace", str(trace), "--output", str(output), "--json",
                "--compile", "--compile-backend", "aot_eager",
            ]
        )  # fmt: skip
    return json.loads(output.read_text(encoding="utf-8")), trace


@pytest.mark.slow
def test_profile_reports_one_step_with_its_shares(profiled):
    report, _ = profiled
    assert report["bench"] == "profile" and report["schema"] == "dglsp-bench/1"
    env = report["environment"]
    assert env["device"].startswith("CPU") and env["date"] and "commit" in env
    assert env["command"].startswith("python -m dglsp.bench.profile --config tiny")
    assert report["engine"]["device"] == "cpu" and report["warm_up"]["steps"] >= 1
    step = report["step"]
    assert step["host_reads"] == 1 and step["host_read_names"] == ["tolist"]
    assert step["cuda_syncs"] is None and step["time_kind"] == "self CPU time"
    assert 0 < step["step_ms"]["p50"] <= step["step_ms"]["p95"]
    shares = {row["category"]: row for row in step["categories"]}
    assert list(shares) == list(profile_bench.CATEGORIES)
    assert sum(row["share"] for row in step["categories"]) == pytest.approx(1.0, abs=0.01)
    # The tiny model's step has matmuls, attention and sampling, and nothing compiled in eager.
    for name in ("matmul / experts", "attention", "sampling (Canvas.step)"):
        assert shares[name]["ms"] > 0, name
    assert shares["compiled region (fused kernels)"]["ms"] == 0
    assert 0 < step["total_ms"] <= step["profiled_step_ms"] * 1.05
    operators = step["top_operators"]
    assert len(operators) == 6 and operators[0]["self_ms"] >= operators[-1]["self_ms"]
    assert all(op["calls"] >= 1 and op["name"] for op in operators)


@pytest.mark.slow
def test_profile_writes_a_chrome_trace_of_the_step(profiled):
    report, trace = profiled
    assert report["step"]["trace"] == str(trace)
    names = {event.get("name") for event in json.loads(trace.read_text(encoding="utf-8"))["traceEvents"]}
    assert {profile_bench.FORWARD_REGION, profile_bench.STEP_REGION} <= names


@pytest.mark.slow
def test_profile_compares_the_compiled_step_in_the_same_run(profiled):
    report, _ = profiled
    compiled = report["compile"]
    assert compiled["compiled"]["backend"] == "aot_eager" and compiled["compiled"]["cuda_graphs"] is False
    assert compiled["same_tokens"] and compiled["same_tokens_per_seed"] == [True, True]
    assert compiled["first_different_step"] == [None, None]
    assert compiled["max_logit_difference"] < 1e-4
    assert set(compiled["step_ms"]) == {"eager", "compiled"} and compiled["speedup_p50"] > 0
    # The compiled step's profile shows the compiled region where eager had none.
    shares = {row["category"]: row["ms"] for row in compiled["profile"]["categories"]}
    assert shares["compiled region (fused kernels)"] > 0


@pytest.mark.slow
def test_profile_render_names_the_sections(profiled):
    report, _ = profiled
    text = profile_bench.render(report)
    for part in ("device:  CPU", "Where the step goes", "Top operators", "torch.compile", "same tokens"):
        assert part in text, part


@pytest.mark.parametrize(
    ("name", "region", "expected"),
    [
        ("aten::mm", profile_bench.FORWARD_REGION, "matmul / experts"),
        ("aten::_grouped_mm", profile_bench.FORWARD_REGION, "matmul / experts"),
        ("aten::_scaled_dot_product_flash_attention_for_cpu", profile_bench.FORWARD_REGION, "attention"),
        ("aten::mul", profile_bench.FORWARD_REGION, "norms / elementwise / other ops"),
        ("aten::mm", profile_bench.STEP_REGION, "sampling (Canvas.step)"),
        ("Torch-Compiled Region: 0/1", profile_bench.FORWARD_REGION, "compiled region (fused kernels)"),
        (profile_bench.FORWARD_REGION, profile_bench.FORWARD_REGION, "host: Python between ops, guards"),
        ("TorchDynamo Cache Lookup", profile_bench.FORWARD_REGION, "host: Python between ops, guards"),
    ],
)
def test_operators_fall_into_their_share(name, region, expected):
    assert profile_bench.category(name, region) == expected


def test_the_first_differing_step_is_found():
    same = [([1, 2], False), ([1, 3], True)]
    assert profile_bench._first_difference(same, list(same)) is None
    assert profile_bench._first_difference(same, [([1, 2], False), ([1, 4], True)]) == 2
    assert profile_bench._first_difference(same, [*same, ([1, 3], True)]) == 3  # one ran longer


# --- the step bench's --device ---


def test_step_bench_device_option_parses_and_runs_on_the_cpu(monkeypatch, capsys):
    assert step_bench.parse_device("cpu") == torch.device("cpu")
    assert step_bench.parse_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setattr(step_bench, "default_cases", lambda device: [(512, 16, 1)])
    step_bench.main(["--device", "cpu", "--repeat", "1", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["device"] == "cpu" and report["environment"]["device"].startswith("CPU")
    assert report["environment"]["command"] == "python -m dglsp.bench.step --device cpu --repeat 1 --json"
    (case,) = report["cases"]
    assert case["same_draws"] and case["host_reads_per_step"] == {"reference_step": 3, "step": 1}


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message for a missing GPU")
def test_step_bench_refuses_cuda_without_a_gpu():
    with pytest.raises(SystemExit, match=r"--device cuda: .*no CUDA device"):
        step_bench.main(["--device", "cuda"])


def test_step_bench_synchronises_around_each_cuda_timing(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append(device))
    step_bench._ms(lambda: calls.append("work"), torch.device("cuda"))
    assert calls == [torch.device("cuda"), "work", torch.device("cuda")]
    calls.clear()
    step_bench._ms(lambda: calls.append("work"), torch.device("cpu"))
    assert calls == ["work"]
    # On a GPU the whole full-size canvas is measured too.
    assert (step_bench.FULL_VOCAB, 256, 1) in step_bench.default_cases(torch.device("cuda"))
    assert (step_bench.FULL_VOCAB, 256, 1) not in step_bench.default_cases(torch.device("cpu"))


# --- the compiled forward ---


@torch.no_grad()
def test_compiled_forward_gives_eager_logits_for_every_prompt_length_with_two_graphs(tiny):
    model, tokenizer = tiny
    backend = Counting()
    compiled = CompiledForward(model, 12, backend=backend)
    lengths = set()
    for prompt in PROMPTS:
        canvas = _canvas(model, tokenizer, prompt)
        lengths.add(canvas.prompt_length)
        for _ in range(3):  # the first step without self-conditioning, then with it
            expected = canvas.forward(model)
            assert torch.allclose(compiled(canvas), expected, atol=1e-5, rtol=1e-5)
            canvas.step(expected)
    assert len(lengths) == len(PROMPTS)
    # One graph per self-conditioning case, not one per prompt length: the KV length is dynamic.
    assert backend.graphs == 2


@torch.no_grad()
def test_compiled_step_gives_eager_text_with_the_same_seed(tiny):
    model, tokenizer = tiny
    backend = Counting("eager")  # Dynamo's graphs run as captured: the text check stays quick
    compiled = CompiledForward(model, 10, backend=backend)
    for seed in range(2):
        for prompt in PROMPTS[:2]:
            eager = _loop(_canvas(model, tokenizer, prompt, 10, seed), lambda c: c.forward(model))
            ours = _loop(_canvas(model, tokenizer, prompt, 10, seed), compiled)
            assert ours == eager, (seed, prompt)
    assert backend.graphs >= 2  # the compiled path really ran


def test_compiled_forward_takes_only_its_width_and_known_modes(tiny):
    model, tokenizer = tiny
    compiled = CompiledForward(model, 12, mode="reduce-overhead", backend="eager")
    other = _canvas(model, tokenizer, PROMPTS[0], width=8)
    assert not compiled.accepts(other) and compiled.accepts(_canvas(model, tokenizer, PROMPTS[0]))
    with pytest.raises(ValueError, match="compiled for 12 cells"):
        compiled(other)
    assert CompiledForward(model, 12, mode="reduce-overhead").cuda_graphs is False  # a CPU model
    with pytest.raises(ValueError, match=r"unknown torch\.compile mode"):
        CompiledForward(model, 12, mode="fastest")


@pytest.mark.slow
@torch.no_grad()
def test_inductor_compiled_step_matches_eager(tiny):
    """Inductor for real (C++ kernels built with the system compiler): same logits up to
    float rounding, same text with the same seed."""
    import os
    import shutil

    model, tokenizer = tiny
    if shutil.which("gcc") is None and shutil.which("cc") is None:
        message = "Inductor on the CPU needs a C compiler (gcc) on PATH"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    compiled = CompiledForward(model, 8, backend="inductor")
    canvas = _canvas(model, tokenizer, PROMPTS[0], width=8, steps=4)
    expected = canvas.forward(model)
    assert torch.allclose(compiled(canvas), expected, atol=1e-4, rtol=1e-4)
    eager = _loop(_canvas(model, tokenizer, PROMPTS[0], 8, seed=3, steps=4), lambda c: c.forward(model))
    ours = _loop(_canvas(model, tokenizer, PROMPTS[0], 8, seed=3, steps=4), compiled)
    assert ours == eager


def test_dglsp_bench_profile_parses_into_the_profile_options():
    from dglsp.cli.main import build_parser

    flags = "--config small --random-weights --device cpu --compile --compile-mode reduce-overhead"
    args = build_parser().parse_args(
        ["bench", "profile", *flags.split(), "--trace", "step.json", "--canvas", "64"]
    )
    options = profile_bench.options_from(args)
    assert (options.config, options.random_weights, options.device, options.canvas) == (
        "small",
        True,
        "cpu",
        64,
    )
    assert options.compile and options.compile_mode == "reduce-overhead" and str(options.trace) == "step.json"
    # dglsp's own --device, given before `bench`, reaches the profile (not overwritten by a default).
    args = build_parser().parse_args(["--device", "cpu", "bench", "profile"])
    assert (
        profile_bench.options_from(args).device == "cpu" and profile_bench.options_from(args).config == "tiny"
    )
    with pytest.raises(SystemExit, match="random-weights"):
        profile_bench.options_from(build_parser().parse_args(["bench", "profile", "--random-weights"]))


# --- on a GPU only (this checkout's first GPU session runs these) ---

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@needs_cuda
@pytest.mark.slow
def test_profile_on_cuda_reads_device_time_and_kernels():
    with _dynamo_state():
        report = profile_bench.run_profile(
            profile_bench.ProfileOptions(config="tiny", device="cuda", steps=12, top=5)
        )
    step = report["step"]
    assert report["engine"]["device"].startswith("cuda") and step["time_kind"] == "self device time (CUDA)"
    assert isinstance(step["cuda_syncs"], int) and step["top_kernels"]
    shares = {row["category"]: row["ms"] for row in step["categories"]}
    assert shares["matmul / experts"] > 0 and shares["sampling (Canvas.step)"] > 0


@needs_cuda
@pytest.mark.slow
@torch.no_grad()
def test_cuda_graph_compiled_forward_keeps_each_steps_logits(tiny_model_dir):
    """reduce-overhead replays CUDA graphs; the logits a canvas keeps for self-conditioning
    must survive the next replay (they are cloned out of the graph's pool)."""
    model = load_model(tiny_model_dir, torch.device("cuda"), torch.float32)
    tokenizer = load_tokenizer(tiny_model_dir)
    compiled = CompiledForward(model, 12, mode="reduce-overhead")
    assert compiled.cuda_graphs
    canvas = _canvas(model, tokenizer, PROMPTS[0])
    for _ in range(4):
        expected = canvas.forward(model)
        logits = compiled(canvas)
        assert torch.allclose(logits, expected, atol=1e-4, rtol=1e-4)
        canvas.step(logits)
