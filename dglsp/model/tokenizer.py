"""The model's tokenizer, wrapped with what prompt building and decoding need.

Encoding calls the Rust tokenizer (`tokenizers.Tokenizer`) directly when the transformers
tokenizer wraps one: transformers' `encode` adds a batch of Python around the same call (about
0.02-0.07 ms per prompt here, twice per keystroke). It is used only while it gives exactly
transformers' ids: checked on probe texts when loaded, and per call that nothing (truncation,
padding, splitting special tokens) is set that transformers would have switched off.
"""

from __future__ import annotations

import json
from pathlib import Path

from dglsp.engine.base import ModelUnavailable

# Special tokens that can only appear in a middle by mistake: seeing one ends the middle.
# (For the released checkpoint the end of the answer is one of its EOS ids, e.g. <turn|>.)
STRUCTURAL_TOKENS = ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|turn>", "<turn|>")


class ModelTokenizer:
    def __init__(self, hf_tokenizer, eos_ids: list[int]) -> None:
        self.hf = hf_tokenizer
        self.pad_id: int | None = hf_tokenizer.pad_token_id
        self.bos_token: str = hf_tokenizer.bos_token or ""
        vocab = hf_tokenizer.get_vocab()
        self._vocab = vocab
        ends = set(eos_ids)
        if hf_tokenizer.eos_token_id is not None:
            ends.add(hf_tokenizer.eos_token_id)
        if self.pad_id is not None:
            ends.add(self.pad_id)
        ends.update(vocab[token] for token in STRUCTURAL_TOKENS if token in vocab)
        self.end_of_middle_ids: frozenset[int] = frozenset(ends)
        self._rust = _rust_tokenizer(hf_tokenizer)

    # --- what prompt building needs (engine.base.Tokenizer) ---
    def count(self, text: str) -> int:
        return len(self.encode(text))

    def has_token(self, token: str) -> bool:
        return token in self._vocab

    @property
    def chat_template(self) -> str | None:
        return getattr(self.hf, "chat_template", None)

    def apply_chat(self, user_message: str) -> str:
        """The rendered chat prompt for one user turn, ending where the model's answer starts."""
        return self.hf.apply_chat_template(
            [{"role": "user", "content": user_message}], tokenize=False, add_generation_prompt=True
        )

    # --- encoding and decoding ---
    def encode(self, text: str) -> list[int]:
        # Special tokens are written inline in rendered prompts; BOS is part of the template.
        rust = self._rust
        if rust is not None and _as_transformers_calls_it(rust, self.hf):
            return rust.encode(text, add_special_tokens=False).ids
        return self.hf.encode(text, add_special_tokens=False)

    @property
    def fast_encode(self) -> bool:
        """Whether `encode` calls the Rust tokenizer directly."""
        return self._rust is not None

    def cut_at_end(self, ids: list[int]) -> list[int]:
        """The middle: ids up to (not including) the first end-of-middle token."""
        for index, token_id in enumerate(ids):
            if token_id in self.end_of_middle_ids:
                return ids[:index]
        return ids

    def decode_middle(self, ids: list[int]) -> str:
        return self.hf.decode(self.cut_at_end(list(ids)), skip_special_tokens=True)


# Texts both encoders must agree on before the direct one is trusted: code, CRLF, non-ASCII,
# special tokens written inline (each template writes them so).
_PROBES = (
    "def f(x):\r\n    return x  # é 中 😀\n",
    "<|fim_suffix|>\n}\n<|fim_prefix|>import os\nfn main() {<|fim_middle|>",
    "<bos><|turn>user\nFill in <FILL_HERE>.<turn|>\n<|turn>model\n",
    "  \t\n\n x",
)


def _rust_tokenizer(hf):
    """The Rust tokenizer inside `hf`, if encoding with it directly gives transformers' ids."""
    rust = getattr(hf, "_tokenizer", None)
    try:
        from tokenizers import Tokenizer
    except ImportError:  # pragma: no cover - transformers' fast tokenizers need it
        return None
    if not isinstance(rust, Tokenizer) or not _as_transformers_calls_it(rust, hf):
        return None
    for text in _PROBES:
        if rust.encode(text, add_special_tokens=False).ids != hf.encode(text, add_special_tokens=False):
            return None
    return rust


def _as_transformers_calls_it(rust, hf) -> bool:
    """No setting on the Rust tokenizer that transformers' encode (no truncation, no padding,
    its own split_special_tokens) would change before encoding."""
    return (
        rust.truncation is None
        and rust.padding is None
        and rust.encode_special_tokens == bool(getattr(hf, "split_special_tokens", False))
    )


def load_tokenizer(path: Path) -> ModelTokenizer:
    """The tokenizer saved beside the model, with the EOS ids from its generation config."""
    from transformers import AutoTokenizer

    try:
        hf = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError, KeyError) as error:
        raise ModelUnavailable(f"Cannot load the tokenizer from {path}: {error}") from None
    return ModelTokenizer(hf, _generation_eos_ids(path))


def _generation_eos_ids(path: Path) -> list[int]:
    """EOS ids from generation_config.json, else config.json (the real checkpoint lists three)."""
    for name in ("generation_config.json", "config.json"):
        try:
            config = json.loads((path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        eos = config.get("eos_token_id", config.get("text_config", {}).get("eos_token_id"))
        if eos is not None:
            return list(eos) if isinstance(eos, list) else [eos]
    return []
