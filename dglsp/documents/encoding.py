"""LSP positions <-> offsets into a Python str, for utf-8, utf-16 and utf-32 column units.

TO BE IMPLEMENTED (documents/carve helper). Contract:

    Encoding = Literal["utf-8", "utf-16", "utf-32"]

    class PositionError(ValueError): a position outside the document (line past the end,
        column past the end of its line). Its message says which and by how much.

    def position_to_offset(text: str, line: int, column: int, encoding: Encoding = "utf-16",
                           *, clamp: bool = False) -> int
        0-based line and column (in `encoding` units) -> index into `text`. A column inside a
        surrogate pair / multi-byte sequence rounds down to the character start. With
        clamp=True, out-of-range positions clamp to the line end / document end instead of
        raising.

    def offset_to_position(text: str, offset: int, encoding: Encoding = "utf-16") -> tuple[int, int]

Line breaks: "\n", "\r\n" and "\r" all end a line (as LSP says).
"""
