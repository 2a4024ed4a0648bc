"""Write a tiny random DiffusionGemma and a small tokenizer in `save_pretrained` layout.

    python -m dglsp.testing.tiny_model DIR [--seed N] [--chat]

The model has the real architecture (DiffusionGemmaForBlockDiffusion, mixture of experts,
sliding + full attention layers) at a size that runs a denoising step in milliseconds on a
CPU, so tests and editor integrations exercise the real loading and decoding path. Its
weights are random: completions are noise, but deterministic for a given seed.

The tokenizer is a byte-level BPE trained offline on a built-in code sample. By default it
has fill-in-the-middle tokens (dglsp's FIM template); `--chat` writes one without them and
with a Gemma-4-style chat template instead (the template the released model uses).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

PAD, EOS, BOS = "<pad>", "<eos>", "<bos>"
FIM_TOKENS = ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>")
CHAT_TOKENS = ("<|turn>", "<turn|>")

# Gemma 4's chat format (facts/diffusiongemma.md): <bos><|turn>user\n...<turn|>\n<|turn>model\n
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "<|turn>{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n"
    "{{ message['content'] }}<turn|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|turn>model\n{% endif %}"
)

VOCAB_SIZE = 1024
CANVAS_LENGTH = 32

_SAMPLE_CODE = '''
import os
import sys
from typing import Iterable


def fibonacci(n: int) -> int:
    """Return the n-th Fibonacci number."""
    if n < 2:
        return n
    return fibonacci(n - 1) + fibonacci(n - 2)


class Stack:
    def __init__(self) -> None:
        self.items: list[int] = []

    def push(self, item: int) -> None:
        self.items.append(item)

    def pop(self) -> int:
        return self.items.pop()


function add(a, b) {
    return a + b;
}
const square = (x) => x * x;
fn main() {
    let v: Vec<i32> = vec![1, 2, 3];
    println!("{}", v.len());
}
func Sum(xs []int) int {
    total := 0
    for _, x := range xs {
        total += x
    }
    return total
}
int max(int a, int b) { return a > b ? a : b; }
public class Main { public static void main(String[] args) { System.out.println("hi"); } }
'''


def _training_text() -> list[str]:
    """Deterministic text to train the BPE on: the sample above plus a few stdlib modules."""
    import textwrap as stdlib_sample  # any pure-Python stdlib module is fine; it is always present

    texts = [_SAMPLE_CODE]
    texts.append(Path(stdlib_sample.__file__).read_text(encoding="utf-8"))
    return texts


def build_tokenizer(chat: bool = False):
    """A byte-level BPE (so every text round-trips) with the special tokens the templates need."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = [PAD, EOS, BOS, *(CHAT_TOKENS if chat else FIM_TOKENS)]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_training_text(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=list(specials[3:]),
    )
    if chat:
        fast.chat_template = CHAT_TEMPLATE
    return fast


def tiny_config(vocab_size: int, canvas_length: int = CANVAS_LENGTH):
    from transformers import DiffusionGemmaConfig

    from dglsp.model.configs import SMALL_VISION_CONFIG

    text = {
        "vocab_size": vocab_size,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "layer_types": ["sliding_attention", "full_attention"],
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 32,
        "global_head_dim": 32,
        "num_experts": 4,
        "top_k_experts": 2,
        "moe_intermediate_size": 32,
        "sliding_window": 128,
        "max_position_embeddings": 8192,
        "pad_token_id": 0,
        "eos_token_id": 1,
        "bos_token_id": 2,
    }
    return DiffusionGemmaConfig(
        text_config=text, vision_config=dict(SMALL_VISION_CONFIG), canvas_length=canvas_length
    )


def write_tiny_model(directory: str | Path, seed: int = 0, chat: bool = False) -> Path:
    """Build and save the tiny model + tokenizer; returns the directory."""
    import torch
    from transformers import DiffusionGemmaForBlockDiffusion

    from dglsp.model.configs import generation_config

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(chat=chat)
    assert tokenizer.convert_tokens_to_ids([PAD, EOS, BOS]) == [0, 1, 2]

    torch.manual_seed(seed)
    model = DiffusionGemmaForBlockDiffusion(tiny_config(len(tokenizer))).eval()
    model.generation_config = generation_config(CANVAS_LENGTH)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    (directory / "README.md").write_text(
        "A tiny DiffusionGemma with RANDOM weights, written by `python -m dglsp.testing.tiny_model`"
        f" (seed {seed}). For tests and editor integrations only: its completions are noise.\n",
        encoding="utf-8",
    )
    return directory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dglsp.testing.tiny_model", description=__doc__.split("\n")[0]
    )
    parser.add_argument("directory", help="where to write the model (created if missing)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the random weights (default 0)")
    parser.add_argument("--chat", action="store_true", help="a chat-template tokenizer without FIM tokens")
    args = parser.parse_args(argv)
    path = write_tiny_model(args.directory, seed=args.seed, chat=args.chat)
    files = sorted(p.name for p in path.iterdir())
    print(json.dumps({"model": str(path), "files": files}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
