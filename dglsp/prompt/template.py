"""Prompt templates: how prefix, suffix and header context become the model's prompt.

Which template a model gets is decided from its tokenizer, never from its name:
- `fim`: the tokenizer has fill-in-the-middle tokens (dglsp's bundled models). Suffix first,
  then context + prefix, then <|fim_middle|>: typing at the cursor only changes the prompt's
  end, so a cached prompt start stays valid between keystrokes.
- `chat`: the tokenizer has a chat template and no FIM tokens (the released DiffusionGemma,
  which has no FIM tokens): an instruction with the code in reading order and a hole marker.
- `custom`: the `template` setting, with {context}, {prefix} and {suffix} (and {bos}).
- `plain`: for the pinned-suffix strategy, the prompt is the code up to the cursor; the
  suffix goes into the canvas after the middle instead (see dglsp.model.denoise).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE = "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"
HOLE = "<FILL_HERE>"

# Gemma 4's turn format, used when the tokenizer cannot render its own chat template (e.g.
# `dglsp context` with no tokenizer at hand).
GEMMA4_TURNS = "<bos><|turn>user\n{message}<turn|>\n<|turn>model\n"

CHAT_INSTRUCTION = (
    "Fill in the {language} code at {hole}. Reply with only the code that replaces {hole}: "
    "no explanation, no code fences, nothing that already follows it.\n\n"
    "{context}{prefix}{hole}{suffix}"
)


@dataclass(frozen=True)
class PromptTemplate:
    kind: str  # "fim" | "chat" | "custom"
    _render: Callable[[str, str, str, str], str]

    def render(self, context: str, prefix: str, suffix: str, language: str = "") -> str:
        return self._render(context, prefix, suffix, language)


def choose_template(tokenizer, custom: str = "") -> PromptTemplate:
    """The template for this tokenizer (see the module docstring for the order of choice)."""
    bos = getattr(tokenizer, "bos_token", "") or ""
    if custom:
        return PromptTemplate(
            "custom",
            lambda c, p, s, lang: custom.format_map(
                {"context": c, "prefix": p, "suffix": s, "bos": bos, "language": lang}
            ),
        )
    if all(tokenizer.has_token(t) for t in (FIM_PREFIX, FIM_SUFFIX, FIM_MIDDLE)):
        return PromptTemplate(
            "fim", lambda c, p, s, lang: f"{bos}{FIM_SUFFIX}{s}{FIM_PREFIX}{c}{p}{FIM_MIDDLE}"
        )
    apply_chat = getattr(tokenizer, "apply_chat", None)
    if apply_chat is None or not getattr(tokenizer, "chat_template", None):
        apply_chat = lambda message: GEMMA4_TURNS.format(message=message)  # noqa: E731

    def render_chat(context: str, prefix: str, suffix: str, language: str) -> str:
        message = CHAT_INSTRUCTION.format(
            language=language or "source", hole=HOLE, context=context, prefix=prefix, suffix=suffix
        )
        return apply_chat(message)

    return PromptTemplate("chat", render_chat)


def plain_template(tokenizer) -> PromptTemplate:
    """The code before the cursor as it reads (the pinned-suffix strategy's prompt)."""
    bos = getattr(tokenizer, "bos_token", "") or ""
    return PromptTemplate("plain", lambda c, p, s, lang: f"{bos}{c}{p}")
