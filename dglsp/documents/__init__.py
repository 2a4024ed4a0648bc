"""Open documents: text, version and an incrementally updated tree-sitter tree.

Contract (used by the server, the CLI and carving):
- `Document(uri, language, version, text)`; `document.apply_change(start, end, new_text, version)`
  with `start`/`end` as str offsets (the server converts LSP positions with `encoding.py`
  first), or `document.replace_all(text, version)`. A change records its tree edit; the
  incremental parse happens when a tree is first read (`document.tree`, `snapshot.tree`).
  `snapshot.tree_at(cursor)` is what carving reads: the whole tree of a small document, and in
  a large one a parse of its imports and the statements around the cursor (`focus.py`).
- `document.snapshot()` -> `Snapshot`: immutable (text, version, language, tree, line index,
  and `utf8`: the bytes the tree was parsed from), safe to hand to background work.
- `encoding.py` converts between LSP positions in utf-8 / utf-16 / utf-32 units and str offsets,
  and (`LineIndex.byte_offset` / `char_offset`) between str offsets and utf-8 byte offsets.
"""

from dglsp.documents.document import Document, Snapshot
from dglsp.documents.encoding import (
    PositionError,
    offset_to_position,
    position_to_offset,
)

__all__ = ["Document", "PositionError", "Snapshot", "offset_to_position", "position_to_offset"]
