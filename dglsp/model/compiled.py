"""An opt-in `torch.compile` of the denoising forward pass for one canvas width.

The forward pass (`Canvas.forward`: the decoder over the canvas, reading the prompt's KV
cache) is where a step's time goes at full size; compiling it lets Inductor fuse the norms,
RoPE and elementwise work between the matmuls, and `mode="reduce-overhead"` replays it as a
CUDA graph on a GPU, so the host no longer launches each kernel of each step.

Shapes. The canvas is fixed-length (`width` cells, the model's canvas or a per-request
one), so the canvas width and the vocabulary are compiled as constants. The prompt's KV
length changes with every request, so the sequence dimension of every cached key and value
is marked dynamic (`torch._dynamo.maybe_mark_dynamic`) before each call: one graph serves
every prompt length instead of one recompile per length. `dynamic=True` would make every
dimension symbolic (canvas and vocabulary too) for no gain, and the default (automatic
dynamic) would compile once static and recompile on the second prompt length. Two graphs
are compiled in any case: the first step has no self-conditioning logits, later steps do.
A prompt of one token is a third (torch specialises sizes 0 and 1).

What stays eager: sampling (`Canvas.advance`). Inductor draws random numbers with its own
generator, so a compiled multinomial or re-noise would give other text for the same seed;
the forward has no random draws, so the compiled step keeps the seed's text (the logits
differ from eager only by float rounding, tests/test_bench_profile.py).

CUDA graphs ("reduce-overhead") write their outputs into memory the next replay reuses,
while a canvas keeps this step's logits as the next step's self-conditioning input: the
logits are cloned out of the graph's pool in that mode. Each distinct prompt length is a
new recording of the graph (cudagraph trees record per shape), so on a GPU this mode pays
off only once a prompt length repeats (keystrokes reusing the cached prompt change its
length); a static, padded prompt cache (transformers' StaticCache with a mask, as
`dglsp.model.batch` pads for batches) would remove that and is the next step.

Opt-in only: nothing in the engine uses it yet (see docs/benchmarks.md, "Profiling one step
and torch.compile", for the one-line change that would).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

# torch is imported where it is used: the CLI reads COMPILE_MODES for its help without it.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")
# Dimension of a cached key/value that grows with the prompt: (batch, heads, sequence, head_dim).
SEQUENCE_DIM = 2


def _logits(model, tokens, self_conditioning, cache, positions) -> torch.Tensor:
    """`Canvas.forward`, as a function of tensors and the cache, for torch.compile to trace."""
    return model(
        decoder_input_ids=tokens,
        self_conditioning_logits=self_conditioning,
        past_key_values=cache,
        decoder_position_ids=positions,
    ).logits


class CompiledForward:
    """`canvas.forward(model)` compiled for canvases `width` cells wide.

    Call it with a Canvas of that width (`accepts`); other widths should take the eager
    `canvas.forward(model)`. `backend` is torch.compile's ("inductor" by default; "eager" or
    "aot_eager" only trace, which tests use to stay fast; a callable backend is accepted).
    `mode` is passed only with Inductor, the only backend that takes one.
    """

    def __init__(
        self,
        model,
        width: int,
        mode: str = "default",
        backend: str | Callable[..., Any] = "inductor",
        fullgraph: bool = False,
    ) -> None:
        import torch

        if mode not in COMPILE_MODES:
            raise ValueError(
                f"unknown torch.compile mode {mode!r} (expected one of {', '.join(COMPILE_MODES)})"
            )
        self.model, self.width, self.mode, self.backend = model, width, mode, backend
        options: dict[str, Any] = {"backend": backend, "dynamic": False, "fullgraph": fullgraph}
        if backend == "inductor":
            options["mode"] = mode
        # CUDA graphs only exist on a GPU; on the CPU the mode's other choices still apply.
        self.cuda_graphs = backend == "inductor" and mode in CUDA_GRAPH_MODES and model.device.type == "cuda"
        self._compiled = torch.compile(_logits, **options)

    def accepts(self, canvas) -> bool:
        return canvas.width == self.width

    def __call__(self, canvas) -> torch.Tensor:
        """This canvas's logits, (rows, width, vocab), as `canvas.forward(model)` gives them."""
        import torch

        if not self.accepts(canvas):
            raise ValueError(f"compiled for {self.width} cells, the canvas has {canvas.width}")
        for layer in canvas.cache.layers:
            if getattr(layer, "keys", None) is not None:
                torch._dynamo.maybe_mark_dynamic(layer.keys, SEQUENCE_DIM)
                torch._dynamo.maybe_mark_dynamic(layer.values, SEQUENCE_DIM)
        if self.cuda_graphs:
            torch.compiler.cudagraph_mark_step_begin()
        logits = self._compiled(
            self.model, canvas.tokens, canvas.self_conditioning, canvas.cache, canvas.positions
        )
        # Out of the CUDA graph's pool: the canvas keeps the logits for the next step.
        return logits.clone() if self.cuda_graphs else logits


def describe(compiled: CompiledForward) -> dict[str, Any]:
    backend = (
        compiled.backend if isinstance(compiled.backend, str) else getattr(compiled.backend, "__name__", "?")
    )
    return {
        "backend": backend,
        "mode": compiled.mode if backend == "inductor" else None,
        "width": compiled.width,
        "cuda_graphs": compiled.cuda_graphs,
        "dynamic": "prompt KV length only (maybe_mark_dynamic on the cache's sequence dimension)",
    }
