"""build_prompt(region, ...) -> Prompt: the text the model sees and the canvas it fills."""

from __future__ import annotations

import math
from dataclasses import dataclass

from dglsp.prompt.budget import fit_to_budget
from dglsp.prompt.canvas import canvas_length_for
from dglsp.prompt.template import PromptTemplate, choose_template, plain_template


@dataclass(frozen=True)
class Prompt:
    text: str  # rendered, special tokens written inline
    template: str  # "fim" | "chat" | "custom"
    context: str
    prefix: str
    suffix: str
    context_tokens: int
    prefix_tokens: int
    suffix_tokens: int
    total_tokens: int
    canvas_length: int
    tokens_estimated: bool  # True when counted without the model's tokenizer
    # Pinned-suffix strategy: the suffix goes into the canvas after the middle, not the prompt.
    pinned_suffix: str = ""


class EstimatedTokenizer:
    """Counts without a tokenizer (e.g. `dglsp context` before the model is downloaded)."""

    CHARS_PER_TOKEN = 3.5  # typical of BPE vocabularies on source code
    bos_token = "<bos>"
    chat_template = None

    def count(self, text: str) -> int:
        return math.ceil(len(text) / self.CHARS_PER_TOKEN)

    def has_token(self, token: str) -> bool:
        return False


def build_prompt(
    *,
    context: str,
    prefix: str,
    suffix: str,
    language: str,
    tokenizer,
    template: PromptTemplate,
    budget: int,
    canvas_policy: str,
    canvas_length_setting: int,
    model_canvas: int,
    strategy: str = "prompt",
) -> Prompt:
    """Render the prompt within `budget` tokens. Line endings are normalised to \\n (what
    tokenizers are trained on); post-processing puts the document's own back."""
    context, prefix, suffix = (_lf(context), _lf(prefix), _lf(suffix))
    if context and not context.endswith("\n"):
        context += "\n"
    overhead = tokenizer.count(template.render("", "", "", language))
    fitted = fit_to_budget(context, prefix, suffix, budget - overhead, tokenizer.count)
    text = template.render(fitted.context, fitted.prefix, fitted.suffix, language)
    pinned = strategy == "pinned"
    line_before = fitted.prefix.rsplit("\n", 1)[-1]
    line_after = fitted.suffix.split("\n", 1)[0]
    return Prompt(
        text=text,
        template=template.kind,
        context=fitted.context,
        prefix=fitted.prefix,
        suffix=fitted.suffix,
        context_tokens=fitted.context_tokens,
        prefix_tokens=fitted.prefix_tokens,
        suffix_tokens=fitted.suffix_tokens,
        total_tokens=tokenizer.count(text),
        canvas_length=canvas_length_for(
            canvas_policy, canvas_length_setting, model_canvas, line_before, line_after
        ),
        tokens_estimated=isinstance(tokenizer, EstimatedTokenizer),
        pinned_suffix=fitted.suffix if pinned else "",
    )


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


__all__ = [
    "EstimatedTokenizer",
    "Prompt",
    "PromptTemplate",
    "build_prompt",
    "choose_template",
    "plain_template",
]
