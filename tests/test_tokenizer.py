"""ModelTokenizer.encode: the direct Rust tokenizer path gives exactly transformers' ids."""

from __future__ import annotations

import pytest

from dglsp.model.tokenizer import load_tokenizer

TEXTS = [
    "",
    "def mean(xs):\n    return sum(xs) / len(xs)\n",
    'fn main() {\r\n    println!("é 中 😀");\r\n}\r\n',
    "<bos><|fim_suffix|>\n    return total\n<|fim_prefix|>import os\ndef f(orders):\n    <|fim_middle|>",
    "<bos><|turn>user\nFill in the python code at <FILL_HERE>.<turn|>\n<|turn>model\n",
    "  \t\n\n\u00a0x",  # tabs, blank lines and a no-break space
]


@pytest.fixture(scope="module", params=["fim", "chat"])
def tokenizer(request, tiny_model_dir, tiny_chat_model_dir):
    return load_tokenizer(tiny_model_dir if request.param == "fim" else tiny_chat_model_dir)


@pytest.mark.parametrize("text", TEXTS)
def test_fast_encode_gives_transformers_ids(tokenizer, text):
    assert tokenizer.fast_encode  # so this compares the direct path, not transformers with itself
    expected = tokenizer.hf.encode(text, add_special_tokens=False)
    assert tokenizer.encode(text) == expected
    assert tokenizer.count(text) == len(expected)


def test_encode_calls_the_rust_tokenizer_directly(tokenizer, monkeypatch):
    expected = tokenizer.hf.encode(TEXTS[3], add_special_tokens=False)

    def no_transformers(*args, **kwargs):
        raise AssertionError("transformers' encode was called")

    monkeypatch.setattr(tokenizer.hf, "encode", no_transformers)
    assert tokenizer.encode(TEXTS[3]) == expected


def test_a_setting_transformers_would_undo_sends_encode_through_transformers(tiny_model_dir):
    tokenizer = load_tokenizer(tiny_model_dir)
    text = TEXTS[1]
    expected = tokenizer.hf.encode(text, add_special_tokens=False)
    tokenizer.hf._tokenizer.enable_truncation(max_length=3)  # e.g. set by other code on the shared object
    assert tokenizer.encode(text) == expected and len(expected) > 3


def test_split_special_tokens_is_respected(tiny_model_dir):
    tokenizer = load_tokenizer(tiny_model_dir)
    tokenizer.hf.split_special_tokens = True  # special tokens in the text become plain text
    text = "<|fim_prefix|>x"
    ids = tokenizer.encode(text)
    assert ids == tokenizer.hf.encode(text, add_special_tokens=False)
    assert tokenizer.hf.convert_tokens_to_ids("<|fim_prefix|>") not in ids
