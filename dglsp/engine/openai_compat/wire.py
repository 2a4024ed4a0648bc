"""The wire format shared by the remote engine and dglsp's own server: field names and rules.

vLLM 0.33 serves DiffusionGemma through `/v1/completions` (facts/diffusiongemma.md): no
`suffix`, no `temperature` other than 1.0, no `seed`; per-request diffusion settings go in
`vllm_xargs`. Names starting with `dglsp_` are dglsp extensions that only dglsp's server
understands; the client sends them only to a server that advertises them in `/v1/models`.
"""

from __future__ import annotations

from typing import Any

from dglsp.model.tokenizer import STRUCTURAL_TOKENS

# --- vLLM's per-request diffusion settings (vllm_xargs) ---
SEED_CANVAS = "diffusion_seed_canvas"  # token ids, exactly the request's canvas width
PINNED = "diffusion_pinned"  # canvas positions that keep their seed every step
CANVAS_LENGTH = "diffusion_canvas_length"  # <= the served canvas
MAX_STEPS = "diffusion_max_steps"
READ_ONLY = "diffusion_read_only"

# --- dglsp extensions ---
DRAFTS = "dglsp_drafts"  # stream a chunk per denoising step (a `dglsp_draft` field, text "")
SEED = "dglsp_seed"  # the noise seed (vLLM rejects the top-level `seed` for this model)
ENTROPY_BOUND = "dglsp_entropy_bound"
DRAFT_FIELD = "dglsp_draft"  # in a streamed choice: {"step", "total_steps", "text", "final"}
MODEL_EXTENSION = "dglsp"  # in a /v1/models entry: what this dglsp server supports

# The released DiffusionGemma: its canvas and vocabulary, when a server does not say.
DEFAULT_CANVAS_LENGTH = 256
DEFAULT_VOCAB_SIZE = 262_144
# Suffix cells pinned after the middle, as the in-process engine does: the decoder's window
# is the canvas, so a longer suffix is cut.
PINNED_SUFFIX_CELLS = 32

# Text that ends a middle when a server returns special tokens (we ask for them with
# skip_special_tokens=false so a stray turn or FIM token can be cut, not silently skipped).
END_MARKERS = (*STRUCTURAL_TOKENS, "<eos>", "<pad>", "<|tool_response>")


def cut_middle(text: str, markers: tuple[str, ...] = END_MARKERS) -> str:
    """`text` up to the first end-of-middle marker."""
    cut = len(text)
    for marker in markers:
        index = text.find(marker, 0, cut)
        if index >= 0:
            cut = index
    return text[:cut]


def api_base(setting: str) -> str:
    """The API root for an `engine` setting: 'http://h:8000', '.../v1' and '.../v1/' all give '.../v1'."""
    base = setting.strip().rstrip("/")
    return base if base.endswith("/v1") else base + "/v1"


def is_diffusion_gemma(entry: dict[str, Any]) -> bool:
    """Does a /v1/models entry serve a DiffusionGemma? By dglsp's extension, else by name."""
    extension = entry.get(MODEL_EXTENSION)
    if isinstance(extension, dict) and extension.get("model_type") == "diffusion_gemma":
        return True
    names = (str(entry.get("id") or ""), str(entry.get("root") or ""))
    return any("diffusiongemma" in name.lower().replace("-", "").replace("_", "") for name in names)
