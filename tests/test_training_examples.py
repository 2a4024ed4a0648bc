"""Training examples are deterministic and prompted exactly as the server prompts."""

from __future__ import annotations

import random
import shutil
import textwrap
from pathlib import Path

import pytest

from dglsp.carve import carve
from dglsp.config import Settings
from dglsp.documents import Document
from dglsp.model.tokenizer import ModelTokenizer
from dglsp.prompt import build_prompt, choose_template
from dglsp.prompt.canvas import MID_LINE_CANVAS
from dglsp.training.data import read_code, split_files
from dglsp.training.examples import DEFAULT_KINDS, ExampleBuilder, choose_span

MODEL_CANVAS = 32
BUDGET = 160
JS = textwrap.dedent(
    """\
    import { readFile } from "fs";

    export function total(items) {
      let sum = 0;
      for (const item of items) {
        sum += item.price * item.count;
      }
      return sum;
    }

    const double = (x) => x * 2;
    """
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    import bisect
    import colorsys
    import heapq
    import shlex
    import textwrap as tw

    root = tmp_path_factory.mktemp("training-data")
    for module in (bisect, colorsys, heapq, shlex, tw):
        shutil.copyfile(module.__file__, root / Path(module.__file__).name)
    (root / "web").mkdir()
    (root / "web" / "cart.js").write_text(JS, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def tokenizer() -> ModelTokenizer:
    from dglsp.testing.tiny_model import build_tokenizer

    hf = build_tokenizer()
    return ModelTokenizer(hf, [hf.eos_token_id])


@pytest.fixture(scope="module")
def builder(tokenizer) -> ExampleBuilder:
    return ExampleBuilder(tokenizer, MODEL_CANVAS, Settings(context_budget=BUDGET))


@pytest.fixture(scope="module")
def examples(builder, data_dir):
    files = split_files([data_dir], heldout_fraction=0.0).train
    return builder.sample(files, random.Random("3:0"), 40)


def test_same_seed_same_examples_other_seed_others(builder, data_dir, examples):
    files = split_files([data_dir], heldout_fraction=0.0).train
    assert builder.sample(files, random.Random("3:0"), 40) == examples
    other = builder.sample(files, random.Random("4:0"), 40)
    assert [e.prompt_text for e in other] != [e.prompt_text for e in examples]


def test_prompt_is_what_the_server_builds(examples, tokenizer, data_dir):
    settings = Settings(context_budget=BUDGET)
    for example in examples:
        original = read_code(data_dir / example.key)
        assert example.text[: example.cursor] + example.middle + example.text[example.cursor :] == original
        snapshot = Document(f"file:///{example.key}", example.language, 0, example.text).snapshot()
        region = carve(snapshot, example.cursor, settings.window_lines)
        prompt = build_prompt(
            context=region.header,
            prefix=example.text[region.start : example.cursor],
            suffix=example.text[example.cursor : region.end],
            language=region.language,
            tokenizer=tokenizer,
            template=choose_template(tokenizer, settings.template),
            budget=settings.context_budget,
            canvas_policy=settings.canvas_policy,
            canvas_length_setting=settings.canvas_length,
            model_canvas=MODEL_CANVAS,
        )
        assert example.prompt_text == prompt.text
        assert prompt.template == "fim"
        assert example.prompt_ids == tokenizer.encode(prompt.text)
        assert len(example.canvas_ids) == prompt.canvas_length <= MODEL_CANVAS


def test_canvas_is_middle_then_eos_then_padding(examples, tokenizer):
    eos, pad = tokenizer.hf.eos_token_id, tokenizer.pad_id
    for example in examples:
        n = example.middle_tokens
        if example.truncated:
            assert eos not in example.canvas_ids
            assert n == len(example.canvas_ids)
            assert example.middle.startswith(tokenizer.decode_middle(example.canvas_ids))
        else:
            assert example.canvas_ids[n] == eos
            assert set(example.canvas_ids[n + 1 :]) <= {pad}
            assert tokenizer.decode_middle(example.canvas_ids) == example.middle


def test_every_kind_of_hole_is_drawn(examples):
    assert {e.kind for e in examples} == set(DEFAULT_KINDS)
    for example in examples:
        line_after = example.text[example.cursor :].split("\n", 1)[0]
        if example.kind == "inline":
            assert line_after.strip() and len(example.canvas_ids) == MID_LINE_CANVAS
        if example.kind == "empty":
            assert example.middle == "" and example.middle_tokens == 0
        if example.kind in ("line", "lines"):
            assert not line_after.strip()
            assert example.middle.strip()


def test_body_hole_is_a_whole_function_body():
    python = "import os\n\n\ndef f(x):\n    y = x + 1\n    return y\n"
    start, end = choose_span("body", python, "python", random.Random(0))
    assert python[start:end] == "y = x + 1\n    return y"
    spans = {choose_span("body", JS, "javascript", random.Random(seed)) for seed in range(20)}
    bodies = {JS[s:e] for s, e in spans}
    assert bodies == {
        "let sum = 0;\n  for (const item of items) {\n"
        "    sum += item.price * item.count;\n  }\n  return sum;",
        "x * 2",
    }


def test_a_hole_in_non_ascii_text_keeps_character_offsets(builder):
    text = 'def greet(name):\n    """Grüß dich 👋."""\n    return f"héllo {name}"\n'
    start, end = choose_span("body", text, "python", random.Random(0))
    assert text[start:end] == '"""Grüß dich 👋."""\n    return f"héllo {name}"'
    example = builder.example("greet.py", "python", text, start, end, "body")
    assert example.text == "def greet(name):\n    \n"
