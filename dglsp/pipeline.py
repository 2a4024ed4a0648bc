"""carve -> prompt -> engine -> postprocess: the one completion path.

The language server, `dglsp complete`, `dglsp context` and the benchmarks all go through
`Pipeline`, so what the editor gets is what the CLI shows. Nothing here imports LSP types:
positions are str offsets into the snapshot's text.

CONTRACT (being implemented; signatures are fixed):

    @dataclass(frozen=True)
    class Context:                       # what would be sent to the model
        snapshot: Snapshot
        region: Region
        prompt: Prompt                   # dglsp.prompt.Prompt: text, prefix_tokens, suffix_tokens,
                                         #   context_tokens, canvas_length, tokens_estimated
        def to_json(self) -> dict        # the `dglsp context --json` object:
            # {"language", "kind", "span": {"start": [l, c], "end": [l, c]}, "prefix_tokens",
            #  "suffix_tokens", "canvas_length", ...}  lines/cols 1-based, cols in characters

    @dataclass(frozen=True)
    class Completion:
        text: str                        # the text to put in place of snapshot.text[start:end]
        start: int                       # str offset, <= cursor (start of a partly typed word)
        end: int                         # str offset, >= cursor
        steps: int                       # denoising steps run
        elapsed_ms: float
        timings: dict[str, float]        # ms per stage: carve, prompt, engine, postprocess

    @dataclass(frozen=True)
    class DraftUpdate:                   # one draft, ready to show (streaming filters applied)
        step: int
        total_steps: int
        text: str                        # same meaning as Completion.text
        start: int
        end: int
        final: bool

    class Pipeline:
        def __init__(self, engine: Engine, settings: Settings) -> None
        settings: Settings               # assign a new Settings to change them
        engine: Engine
        def context(self, snapshot: Snapshot, cursor: int) -> Context
            # works without a loaded model (token counts estimated when no tokenizer)
        async def complete(self, snapshot: Snapshot, cursor: int,
                           cancel: CancelToken | None = None,
                           on_draft: Callable[[DraftUpdate], None] | None = None) -> Completion
            # raises engine.Cancelled when cancelled, engine.EngineError with a user-facing
            # message when the engine cannot serve. An empty Completion.text means "nothing to
            # suggest".
"""
