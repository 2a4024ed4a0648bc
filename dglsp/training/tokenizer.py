"""A byte-level BPE trained on the training split, with the special tokens dglsp's FIM template needs.

Same recipe as the tiny test model's tokenizer (dglsp.testing.tiny_model): <pad> <eos> <bos>
take ids 0, 1, 2 (the ids DiffusionGemma's config uses), then the three FIM tokens, so
`choose_template` picks dglsp's FIM template for the trained model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

from dglsp.testing.tiny_model import BOS, EOS, FIM_TOKENS, PAD
from dglsp.training.data import SourceFile, read_code

SPECIAL_TOKENS = (PAD, EOS, BOS, *FIM_TOKENS)
# Enough text for stable merges at these vocabulary sizes; more only costs time.
DEFAULT_SAMPLE_BYTES = 24_000_000


def sample_texts(files: Sequence[SourceFile], max_bytes: int = DEFAULT_SAMPLE_BYTES) -> Iterator[str]:
    """Texts of training files in a seed-free deterministic order (by key hash), up to max_bytes."""
    order = sorted(files, key=lambda f: hashlib.sha256(f.key.encode()).digest())
    used = 0
    for source in order:
        text = read_code(source.path)
        if not text:
            continue
        yield text
        used += len(text)
        if used >= max_bytes:
            return


def train_tokenizer(texts: Iterator[str] | Sequence[str], vocab_size: int):
    """A PreTrainedTokenizerFast with pad/eos/bos = 0/1/2 and the FIM tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=list(FIM_TOKENS),
    )
    assert fast.convert_tokens_to_ids([PAD, EOS, BOS]) == [0, 1, 2]
    return fast
