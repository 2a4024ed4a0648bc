"""From the model's middle to the ghost text.

`for_draft` is the cheap streaming filter applied to every draft while it sharpens;
`finalize` runs once on the final middle and also removes what repeats the suffix.
Both keep the document's line endings and indentation.
"""

from __future__ import annotations

from dglsp.postprocess.filters import (
    drop_repeated_suffix,
    match_indentation,
    strip_code_fences,
    trim_trailing_blank,
    use_newline,
)
from dglsp.postprocess.style import DocumentStyle, detect_style


def for_draft(middle: str, style: DocumentStyle) -> str:
    return use_newline(match_indentation(strip_code_fences(middle), style), style)


def finalize(middle: str, suffix: str, style: DocumentStyle) -> str:
    """`suffix` is the document text after the cursor (with \\n line endings)."""
    text = strip_code_fences(middle)
    text = drop_repeated_suffix(text, suffix)
    text = trim_trailing_blank(text, suffix)
    if not text.strip():
        return ""
    text = match_indentation(text, style)
    return use_newline(text, style)


__all__ = ["DocumentStyle", "detect_style", "finalize", "for_draft"]
