"""build_prompt(region, ...) -> Prompt: the text the model sees and the canvas it fills.

With the model's tokenizer the rendered prompt is encoded once, and those ids go to the engine
with the text (no second encode there); its parts are counted for the budget, and the counts of
the parts that stay the same between keystrokes (the template, the header, usually the suffix)
are remembered.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
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
    # `text` encoded by the tokenizer that counted it (None for estimates): the engine's input.
    ids: tuple[int, ...] | None = None


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
    estimated = isinstance(tokenizer, EstimatedTokenizer)
    remembered = tokenizer.count if estimated else _remembered_counts(tokenizer)
    overhead = remembered(template.render("", "", "", language))
    fitted = fit_to_budget(
        context, prefix, suffix, budget - overhead, tokenizer.count, count_again=remembered
    )
    text = template.render(fitted.context, fitted.prefix, fitted.suffix, language)
    encode = None if estimated else getattr(tokenizer, "encode", None)
    ids = tuple(encode(text)) if encode is not None else None
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
        total_tokens=len(ids) if ids is not None else tokenizer.count(text),
        canvas_length=canvas_length_for(
            canvas_policy, canvas_length_setting, model_canvas, line_before, line_after
        ),
        tokens_estimated=estimated,
        pinned_suffix=fitted.suffix if pinned else "",
        ids=ids,
    )


# Counts of recent texts per tokenizer: between two keystrokes the template, the header and
# (typing at a line's end) the suffix are the same strings, so only the prefix is encoded anew.
_REMEMBERED = 16
_counts: weakref.WeakKeyDictionary[object, _Counts] = weakref.WeakKeyDictionary()
_counts_lock = threading.Lock()


class _Counts:
    """One tokenizer's recent counts (holding no reference to it: it is the weak key)."""

    def __init__(self) -> None:
        self._known: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def count(self, text: str, count: Callable[[str], int]) -> int:
        with self._lock:
            known = self._known.get(text)
            if known is not None:
                self._known.move_to_end(text)
                return known
        counted = count(text)
        with self._lock:
            self._known[text] = counted
            while len(self._known) > _REMEMBERED:
                self._known.popitem(last=False)
        return counted


def _remembered_counts(tokenizer) -> Callable[[str], int]:
    try:
        with _counts_lock:
            counts = _counts.get(tokenizer)
            if counts is None:
                counts = _counts[tokenizer] = _Counts()
    except TypeError:  # a tokenizer that cannot be weakly referenced or hashed: no memory
        return tokenizer.count
    return lambda text: counts.count(text, tokenizer.count)


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
