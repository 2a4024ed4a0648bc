"""Carving: which part of the document around the cursor the prompt is built from.

TO BE IMPLEMENTED (documents/carve helper). Contract:

    @dataclass(frozen=True)
    class Region:
        language: str
        kind: Literal["function", "window"]
        start: int            # str offset where the carved span starts (function: first line,
                              # decorators included, from column 0 of that line)
        end: int              # str offset where it ends (function: end of its last line)
        cursor: int           # str offset of the cursor, start <= cursor <= end
        header: str           # context for the prompt: imports, enclosing class/impl header
                              # lines (each once, in document order), '' if none
        def prefix(self, text: str) -> str  # text[start:cursor]
        def suffix(self, text: str) -> str  # text[cursor:end]

    def carve(snapshot: Snapshot, cursor: int, window_lines: int = 60) -> Region
        The innermost function-like node around the cursor (grammars/<language>.scm, capture
        @function); outside any function, or without a grammar, a window of `window_lines`
        lines centred on the cursor (clipped to the document).
"""
