"""Carving: which part of the document around the cursor the prompt is built from.

    carve(snapshot, cursor, window_lines=60) -> Region

The innermost function-like node around the cursor (grammars/<language>.scm, capture @function),
from column 0 of its first line (decorators, attributes and annotations included) to the end of
its last line, with a header of the file's imports and the enclosing class/impl/namespace headers.
Outside any function, or without a grammar, a window of `window_lines` lines centred on the
cursor. See region.py for the Region fields, queries.py for the query files.
"""

from dglsp.carve.carver import carve
from dglsp.carve.region import Region

__all__ = ["Region", "carve"]
