"""TO BE IMPLEMENTED (documents/carve helper). Contract:

@dataclass(frozen=True)
class Snapshot:
    uri: str
    version: int
    language: str          # dglsp language name (see dglsp.languages), or the raw id if unknown
    text: str
    tree: tree_sitter.Tree | None   # None for languages without a grammar

class Document:
    def __init__(self, uri: str, language: str, version: int, text: str) -> None
    uri, language, version, text (properties)
    def apply_change(self, start: int, end: int, new_text: str, version: int | None = None) -> None
        # start/end: str offsets (the server converts LSP positions first). Updates the text
        # and edits + re-parses the tree incrementally (tree.edit with byte offsets/points,
        # then parser.parse(new_bytes, old_tree)).
    def replace_all(self, text: str, version: int | None = None) -> None
    def snapshot(self) -> Snapshot
"""
