"""`dglsp bench quality`: deterministic held-out cases, the metrics on hand-made answers, the
causal baseline's decoding, and a whole run on the tiny models producing every row."""

from __future__ import annotations

import argparse
import io
import json
import shutil
from pathlib import Path

import pytest
import torch

from dglsp.bench.quality import cases as quality_cases
from dglsp.bench.quality.cases import Case, build_cases, cases_digest, heldout_files
from dglsp.bench.quality.metrics import edit_similarity, levenshtein, prediction_of, score, syntax_errors
from dglsp.training.data import split_of

C_SOURCE = """#include <stdio.h>

static int add(int a, int b) {
    int sum = a + b;
    return sum;
}

int scale(int x, int factor) {
    if (factor == 0) {
        return 0;
    }
    return x * factor;
}

int main(void) {
    printf("%d\\n", scale(add(1, 2), 3));
    return 0;
}
"""


def _heldout_name(stem: str, suffix: str, skip: int = 0) -> str:
    """A key under pkg/ that the trainer's split rule holds out (the default 5 %)."""
    found = [f"pkg/{stem}{i}{suffix}" for i in range(2000) if split_of(f"pkg/{stem}{i}{suffix}") == "heldout"]
    return found[skip]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    import bisect
    import colorsys
    import fnmatch
    import heapq

    root = tmp_path_factory.mktemp("quality-data")
    (root / "pkg").mkdir()
    for index, module in enumerate((bisect, colorsys, fnmatch)):
        shutil.copyfile(module.__file__, root / _heldout_name("mod", ".py", index))
    (root / _heldout_name("lib", ".c")).write_text(C_SOURCE, encoding="utf-8")
    # A training file: it must never give a case.
    train_key = next(f"pkg/train{i}.py" for i in range(100) if split_of(f"pkg/train{i}.py") == "train")
    shutil.copyfile(heapq.__file__, root / train_key)
    return root


@pytest.fixture(scope="module")
def tiny_causal_dir(data_dir, tiny_model_dir, tmp_path_factory) -> Path:
    """A tiny causal baseline with the tiny diffusion model's tokenizer (2 training steps)."""
    from dglsp.training.causal import CausalOptions, train_causal

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("quality-causal") / "causal"
    options = CausalOptions(
        data=[str(data_dir)],
        out=str(out),
        tokenizer=str(tiny_model_dir),
        config="tiny",
        steps=2,
        batch_size=2,
    )
    train_causal(options, stream=io.StringIO())
    return out


# --- cases ---


def test_the_same_seed_builds_byte_identical_cases_from_heldout_files_only(data_dir):
    first = build_cases(heldout_files([data_dir]), per_kind=4, seed=0)
    second = build_cases(heldout_files([data_dir]), per_kind=4, seed=0)
    dump = lambda cases: json.dumps([c.to_json() for c in cases], sort_keys=True)  # noqa: E731
    assert dump(first) == dump(second)
    assert cases_digest(first) == cases_digest(second)
    assert cases_digest(build_cases(heldout_files([data_dir]), per_kind=4, seed=1)) != cases_digest(first)

    assert {c.language for c in first} == {"python", "c"}
    assert {c.kind for c in first} == {"single", "multi", "body"}
    assert all(split_of(c.key) == "heldout" for c in first)
    assert not any(c.key.startswith("pkg/train") for c in first)
    for case in first:
        assert case.text[case.start : case.end] == case.middle
        assert case.document == case.text[: case.start] + case.text[case.end :]
        assert 0 < len(case.middle) <= quality_cases.MAX_MIDDLE_CHARS
        assert not case.middle.startswith((" ", "\t", "\n"))  # starts at the indentation
        lines = [line for line in case.middle.split("\n") if line.strip()]
        if case.kind == "single":
            assert len(lines) == 1 and case.text[case.end : case.end + 1] in ("", "\n")
        if case.kind == "multi":
            assert 2 <= len(lines) <= 5


def test_body_cases_are_whole_function_bodies_and_never_comments_or_docstrings(data_dir):
    cases = build_cases(heldout_files([data_dir]), per_kind=6, seed=0, languages=["c"])
    bodies = [c for c in cases if c.kind == "body"]
    assert {c.middle for c in bodies} >= {"int sum = a + b;\n    return sum;"}
    for case in bodies:  # the body's braces stay in the document
        assert case.text[: case.start].rstrip().endswith("{")
        assert case.text[case.end :].lstrip().startswith("}")
    python = build_cases(heldout_files([data_dir]), per_kind=8, seed=0, languages=["python"])
    assert not any(c.middle.lstrip().startswith(("#", '"""', "'''")) for c in python)


# --- metrics ---


def _case(text: str, middle: str, language: str = "python") -> Case:
    start = text.index(middle)
    return Case("t/single/0", "t.py", language, "single", start, start + len(middle), 1, middle, "", text)


def test_an_exact_answer_counts_as_exact_and_valid():
    case = _case("def add(a, b):\n    return a + b\n", "return a + b")
    assert score(case, "return a + b") == score(case, "return a + b\n")  # trailing whitespace aside
    figures = score(case, "return a + b")
    assert figures.exact and figures.syntax_valid and not figures.empty
    assert figures.edit_similarity == 1.0


def test_an_answer_that_breaks_the_syntax_is_invalid_and_not_exact():
    case = _case("def add(a, b):\n    return a + b\n", "return a + b")
    figures = score(case, "return (a +")
    assert not figures.exact and not figures.syntax_valid
    assert 0 < figures.edit_similarity < 1
    c_case = _case("int f(int a) {\n    return a + 1;\n}\n", "return a + 1;", language="c")
    assert score(c_case, "return a + 1;").syntax_valid
    assert not score(c_case, "return a + 1").syntax_valid  # the missing ';' is a MISSING node


def test_only_new_syntax_errors_count():
    broken = "def f(:\n    x = 1\n    return x\n"  # the file already has an error above the hole
    case = _case(broken, "return x")
    assert syntax_errors(broken, "python") > 0
    assert score(case, "return x + 1").syntax_valid
    assert not score(case, "return (x").syntax_valid


def test_an_empty_answer_is_empty_and_never_valid():
    case = _case("def add(a, b):\n    return a + b\n", "return a + b")
    figures = score(case, "")
    assert figures.empty and not figures.syntax_valid and not figures.exact
    assert figures.edit_similarity == 0.0


def test_edit_similarity_is_one_minus_normalised_levenshtein():
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3
    assert edit_similarity("kitten", "sitting") == pytest.approx(1 - 3 / 7)
    assert edit_similarity("", "") == 1.0


def test_prediction_drops_the_retyped_word_before_the_cursor():
    case = _case("def add(a, b):\n    return a + b\n", "a + b")
    # The pipeline replaces the word typed before the cursor; here the cursor follows a space.
    assert prediction_of(case, "a + b", case.start, case.start) == "a + b"
    word = _case("values = sorted(items)\n", "ted(items)")
    start = word.start - len("sor")
    assert prediction_of(word, "sorted(items)", start, word.start) == "ted(items)"
    assert prediction_of(word, "", start, word.start) == ""


# --- the causal baseline's decoding ---


def test_greedy_decoding_stops_at_an_end_token_or_the_canvas(tiny_causal_dir):
    from dglsp.bench.quality.causal_engine import greedy_middle
    from dglsp.training.causal_model import load_causal_model

    model = load_causal_model(tiny_causal_dir).eval()
    prompt = [2, 3, 10, 11, 12, 5]
    assert len(greedy_middle(model, prompt, 7, frozenset())) == 7
    everything = frozenset(range(model.config.vocab_size))
    assert greedy_middle(model, prompt, 7, everything) == []
    free = greedy_middle(model, prompt, 7, frozenset())
    assert greedy_middle(model, prompt, 7, frozenset({free[3]}))[:3] == free[:3]


# --- a whole run ---


def _parse(argv: list[str]) -> argparse.Namespace:
    from dglsp.cli import bench as bench_cli

    parser = argparse.ArgumentParser(prog="dglsp")
    parser.add_argument("--model", default=None)
    parser.add_argument("--device", default=None)
    bench_cli.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_a_run_on_the_tiny_models_reports_every_row(
    data_dir, tiny_model_dir, tiny_causal_dir, tmp_path, capsys
):
    from dglsp.bench.quality.render import render_quality
    from dglsp.bench.report import read_report
    from dglsp.cli import bench as bench_cli

    output = tmp_path / "quality.json"
    argv = ["bench", "quality", "--model", str(tiny_model_dir), "--causal", str(tiny_causal_dir)]
    argv += ["--data", str(data_dir), "--steps", "1,3", "--cases-per-kind", "1", "--threads", "1"]
    argv += ["--device", "cpu", "--json", "--output", str(output)]
    assert bench_cli.run(_parse(argv)) == 0
    printed = json.loads(capsys.readouterr().out)
    report = read_report(output)
    assert printed == report
    assert report["bench"] == "quality" and report["environment"]["device"].startswith("CPU")
    assert "bench quality" in report["environment"]["command"]

    count = report["cases"]["count"]
    assert count == len(report["cases"]["list"]) == 6  # python and c, one per kind
    names = [row["name"] for row in report["rows"]]
    assert [row["kind"] for row in report["rows"]] == ["diffusion", "diffusion", "causal", "random"]
    assert [row["steps"] for row in report["rows"]] == [1, 3, None, 3]
    # Without --strategies: the setting's default only, and the row names do not mention it.
    assert [row["strategy"] for row in report["rows"]] == ["prompt"] * 4
    assert report["settings"]["strategies"] == ["prompt"]
    assert not any("prompt" in name for name in names)
    assert report["settings"]["same_tokenizer"] is True
    for row in report["rows"]:
        assert row["error"] is None
        assert row["overall"]["n"] == count
        assert sum(row["by_kind"][k]["n"] for k in ("single", "multi", "body")) == count
        assert row["by_language"]["python"]["n"] == 3
        assert row["overall"]["latency_ms"]["p50"] > 0
        assert len(report["per_case"][row["name"]]) == count
    diffusion_steps = [r["steps"] for r in report["per_case"][names[0]]]
    assert all(s == 1 for s in diffusion_steps)
    assert (
        report["models"]["diffusion"]["parameters"] > report["models"]["diffusion"]["active_parameters"] > 0
    )
    assert report["models"]["causal"]["architecture"] == "Gemma4ForCausalLM"

    text = render_quality(report)
    for name in names:
        assert text.count(name) == 4, name  # all cases, single-line Python, by kind, by language
    assert "| single" in text and "python" in text and "dglsp bench quality" in text


def test_strategies_give_one_row_each_and_a_pinned_row_runs_the_pinned_strategy(
    data_dir, tiny_model_dir, monkeypatch, capsys
):
    from dglsp.cli import bench as bench_cli
    from dglsp.engine.inprocess import InProcessEngine
    from dglsp.model.denoise import Layout
    from dglsp.prompt.template import FIM_MIDDLE

    # What the engine was asked for, and whether it built the pinned-suffix canvas.
    requests = []
    infill = InProcessEngine.infill

    def spy_infill(self, request, cancel=None):
        requests.append(request)
        return infill(self, request, cancel)

    pinned_layouts = []
    pinned_suffix = Layout.pinned_suffix

    def spy_layout(*args, **kwargs):
        pinned_layouts.append(pinned_suffix(*args, **kwargs))
        return pinned_layouts[-1]

    monkeypatch.setattr(InProcessEngine, "infill", spy_infill)
    monkeypatch.setattr(Layout, "pinned_suffix", staticmethod(spy_layout))

    argv = ["bench", "quality", "--model", str(tiny_model_dir), "--data", str(data_dir)]
    argv += ["--steps", "1,2", "--strategies", "prompt,pinned", "--cases-per-kind", "1", "--languages", "c"]
    argv += ["--threads", "1", "--device", "cpu", "--json"]
    assert bench_cli.run(_parse(argv)) == 0
    report = json.loads(capsys.readouterr().out)

    name = tiny_model_dir.name
    rows = report["rows"]
    assert [(row["name"], row["kind"], row["steps"], row["strategy"]) for row in rows] == [
        (f"{name}, 1 step, prompt", "diffusion", 1, "prompt"),
        (f"{name}, 1 step, pinned", "diffusion", 1, "pinned"),
        (f"{name}, 2 steps, prompt", "diffusion", 2, "prompt"),
        (f"{name}, 2 steps, pinned", "diffusion", 2, "pinned"),
        ("random weights (floor), 2 steps, prompt", "random", 2, "prompt"),
        ("random weights (floor), 2 steps, pinned", "random", 2, "pinned"),
    ]
    assert report["settings"]["strategies"] == ["prompt", "pinned"]
    count = report["cases"]["count"]
    assert count == 3  # c: one per kind
    for row in rows:
        assert row["error"] is None and row["overall"]["n"] == count

    # Rows run one after the other, each case once: the requests of row i are i*count onwards.
    assert len(requests) == len(rows) * count
    for index, row in enumerate(rows):
        for request in requests[index * count : (index + 1) * count]:
            assert (request.strategy, request.steps) == (row["strategy"], row["steps"])
            if row["strategy"] == "pinned":  # the prompt ends at the cursor, the suffix is pinned
                assert FIM_MIDDLE not in request.prompt and request.pinned_suffix
            else:
                assert FIM_MIDDLE in request.prompt and not request.pinned_suffix
    # ... and the engine denoised a canvas with the suffix's tokens pinned after the middle.
    assert len(pinned_layouts) == sum(row["strategy"] == "pinned" for row in rows) * count
    assert all(any(len(tokens) > 0 for tokens in layout.pinned) for layout in pinned_layouts)

    from dglsp.bench.quality.render import render_quality

    assert "prompt and pinned strategies" in render_quality(report)


def test_the_same_command_judges_the_same_cases(data_dir, tiny_model_dir, tmp_path, capsys):
    from dglsp.cli import bench as bench_cli

    digests = []
    for _ in range(2):
        argv = ["bench", "quality", "--model", str(tiny_model_dir), "--data", str(data_dir), "--no-floor"]
        argv += ["--steps", "1", "--cases-per-kind", "1", "--languages", "c", "--device", "cpu", "--json"]
        assert bench_cli.run(_parse(argv)) == 0
        report = json.loads(capsys.readouterr().out)
        assert [row["kind"] for row in report["rows"]] == ["diffusion"]
        digests.append(
            (
                report["cases"]["digest"],
                [r["prediction"] for r in report["per_case"][report["rows"][0]["name"]]],
            )
        )
    assert digests[0] == digests[1]


def test_bad_arguments_are_usage_errors(data_dir, tmp_path):
    from dglsp.cli import bench as bench_cli
    from dglsp.cli.common import CliError

    with pytest.raises(CliError, match="--model"):
        bench_cli.run(_parse(["bench", "quality", "--data", str(data_dir)]))
    with pytest.raises(CliError, match="not a model directory"):
        bench_cli.run(_parse(["bench", "quality", "--model", str(tmp_path), "--data", str(data_dir)]))
    for strategies in ("fim", "prompt,prompt", ","):  # not a value of the `strategy` setting
        with pytest.raises(SystemExit):
            _parse(["bench", "quality", "--data", str(data_dir), "--strategies", strategies])
