"""Prompt building: template choice, the token budget, the canvas policy."""

from __future__ import annotations

import pytest

from dglsp.model.tokenizer import load_tokenizer
from dglsp.prompt import EstimatedTokenizer, build_prompt, choose_template
from dglsp.prompt.budget import TRIM_BLOCK_LINES, fit_to_budget, keep_head, keep_tail
from dglsp.prompt.canvas import LINE_END_CANVAS, MID_LINE_CANVAS, canvas_length_for


def chars(text: str) -> int:
    return len(text)


@pytest.fixture(scope="module")
def fim_tokenizer(tiny_model_dir):
    return load_tokenizer(tiny_model_dir)


@pytest.fixture(scope="module")
def chat_tokenizer(tiny_chat_model_dir):
    return load_tokenizer(tiny_chat_model_dir)


def _build(
    tokenizer,
    prefix="def f(x):\n    return ",
    suffix="\n\nprint(f(2))\n",
    context="import os\n",
    budget=2048,
    template=None,
    **kw,
):
    return build_prompt(
        context=context,
        prefix=prefix,
        suffix=suffix,
        language="python",
        tokenizer=tokenizer,
        template=template or choose_template(tokenizer),
        budget=budget,
        canvas_policy=kw.get("canvas_policy", "auto"),
        canvas_length_setting=kw.get("canvas_length_setting", 0),
        model_canvas=kw.get("model_canvas", 256),
    )


def test_fim_template_puts_the_suffix_first_and_the_cursor_last(fim_tokenizer):
    prompt = _build(fim_tokenizer)
    assert prompt.template == "fim"
    assert prompt.text == (
        "<bos><|fim_suffix|>\n\nprint(f(2))\n<|fim_prefix|>import os\ndef f(x):\n    return <|fim_middle|>"
    )
    # Typing at the cursor only changes the prompt's end: the start is reusable.
    typed = _build(fim_tokenizer, prefix="def f(x):\n    return x")
    assert typed.text.startswith(prompt.text[: prompt.text.index("<|fim_middle|>")])


def test_chat_template_for_a_tokenizer_without_fim_tokens(chat_tokenizer):
    prompt = _build(chat_tokenizer)
    assert prompt.template == "chat"
    assert prompt.text.startswith("<bos><|turn>user\n")
    assert prompt.text.endswith("<turn|>\n<|turn>model\n")
    assert "def f(x):\n    return <FILL_HERE>\n\nprint(f(2))" in prompt.text


def test_custom_template_setting(fim_tokenizer):
    template = choose_template(fim_tokenizer, "{bos}<S>{suffix}<P>{prefix}<M>")
    prompt = _build(fim_tokenizer, template=template, context="")
    assert prompt.template == "custom"
    assert prompt.text == "<bos><S>\n\nprint(f(2))\n<P>def f(x):\n    return <M>"


def test_counts_are_real_token_counts(fim_tokenizer):
    prompt = _build(fim_tokenizer)
    assert prompt.prefix_tokens == fim_tokenizer.count(prompt.prefix)
    assert prompt.suffix_tokens == fim_tokenizer.count(prompt.suffix)
    assert prompt.total_tokens == len(fim_tokenizer.encode(prompt.text))
    assert not prompt.tokens_estimated


def test_budget_trims_far_ends_first(fim_tokenizer):
    prefix = "".join(f"line_{i} = {i}\n" for i in range(400)) + "    return "
    suffix = "\n" + "".join(f"after_{i} = {i}\n" for i in range(400))
    prompt = _build(fim_tokenizer, prefix=prefix, suffix=suffix, budget=300)
    assert prompt.total_tokens <= 300
    # The text nearest the cursor survives; the far ends go.
    assert prompt.prefix.endswith("line_399 = 399\n    return ")
    assert "line_0 =" not in prompt.prefix
    assert prompt.suffix.startswith("\nafter_0 = 0\n")
    assert "after_399" not in prompt.suffix
    # Whole lines are dropped, not halves.
    assert prompt.prefix.startswith("line_")
    assert prompt.suffix.endswith("\n")


def test_unused_share_flows_to_the_prefix():
    fitted = fit_to_budget("", "p" * 1000, "s" * 10, 100, chars)
    assert fitted.suffix_tokens == 10 and fitted.prefix_tokens == 90


def test_a_single_huge_line_is_cut_not_dropped():
    kept, used = keep_tail("x" * 1000, 10, chars)
    assert kept == "x" * 10 and used == 10
    kept, used = keep_head("ab\n" + "y" * 50, 5, chars)
    assert kept == "ab\n" and used == 3


def test_estimated_counts_without_a_tokenizer():
    prompt = _build(EstimatedTokenizer())
    assert prompt.tokens_estimated
    assert prompt.template == "chat"  # no FIM tokens known: the released model's format
    assert prompt.prefix_tokens > 0


def test_crlf_is_normalised_for_the_model(fim_tokenizer):
    prompt = _build(fim_tokenizer, prefix="def f():\r\n    ", suffix="\r\nx = 1\r\n")
    assert "\r" not in prompt.text


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ("    x = foo(", ")", MID_LINE_CANVAS),
        ("    return ", "", LINE_END_CANVAS),
        ("    ", "", 256),
        ("", "", 256),
    ],
)
def test_canvas_policy_follows_the_cursor_line(before, after, expected):
    assert canvas_length_for("auto", 0, 256, before, after) == expected


def test_canvas_setting_overrides_and_never_exceeds_the_model():
    assert canvas_length_for("auto", 48, 256, "x", ")") == 48
    assert canvas_length_for("auto", 999, 32, "", "") == 32
    assert canvas_length_for("fixed", 0, 256, "x", ")") == 256


def test_typing_at_the_cursor_keeps_a_trimmed_prompt_start_in_place(fim_tokenizer):
    # A long function: its start must be trimmed. While the user types on the cursor's line,
    # the first kept line may move only in whole blocks, so the cached prompt start (the
    # encoder checkpoint) stays valid for most keystrokes.
    body = "".join(f"    total_{i} = compute(value_{i}, factor={i})\n" for i in range(300))
    starts = []
    typed = ""
    for character in "result = " + " + ".join(f"total_{i} * scale_{i}" for i in range(12)):
        typed += character
        prompt = _build(fim_tokenizer, prefix="def f():\n" + body + "    " + typed, suffix="\n", budget=400)
        assert prompt.total_tokens <= 400
        assert prompt.prefix.endswith("    " + typed)
        starts.append(prompt.prefix.split("\n", 1)[0])
    # About 130 tokens typed: dropping lines one by one would move the start to about 8 lines;
    # with blocks it takes at most two (the token count of the line being typed can go down as
    # well as up, so it may flip between them briefly at a block boundary).
    assert len(set(starts)) <= 2, sorted(set(starts))
    # And the cut is on a block boundary counted from the function's first line.
    first_kept = ("def f():\n" + body).split("\n").index(starts[-1])
    assert first_kept % TRIM_BLOCK_LINES == 0


def test_typing_encodes_only_what_changed(fim_tokenizer):
    """Between keystrokes the template, the header and the suffix are counted from memory; the
    prompt is encoded once (its ids are the engine's input), never again just to count it."""

    class Counting:
        def __init__(self, tokenizer):
            self.tokenizer, self.texts = tokenizer, []
            self.bos_token, self.chat_template = tokenizer.bos_token, None

        def has_token(self, token):
            return self.tokenizer.has_token(token)

        def count(self, text):
            self.texts.append(text)
            return self.tokenizer.count(text)

        def encode(self, text):
            self.texts.append(text)
            return self.tokenizer.encode(text)

    tokenizer = Counting(fim_tokenizer)
    first = _build(tokenizer, prefix="def f(x):\n    return ")
    tokenizer.texts.clear()
    typed = _build(tokenizer, prefix="def f(x):\n    return x")
    assert tokenizer.texts == ["def f(x):\n    return x", typed.text]  # the prefix, the prompt
    assert typed.ids == tuple(fim_tokenizer.encode(typed.text)) and typed.total_tokens == len(typed.ids)
    assert (typed.context_tokens, typed.suffix_tokens) == (first.context_tokens, first.suffix_tokens)
    assert _build(EstimatedTokenizer()).ids is None
