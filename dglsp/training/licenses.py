"""Which installed distributions are permissively licensed, read from their metadata.

The order of evidence: an SPDX `License-Expression` decides alone (every AND part must be
permissive, one OR branch suffices). Without one, the `License` field (when it is a short name,
not a whole license text) and the `License ::` classifiers are read together: any copyleft
mention rejects the package (mixed per-file licensing is not worth the risk), any permissive
one accepts it, nothing recognisable rejects it as unknown.

Permissive here means the MIT, BSD, Apache-2.0, PSF/Python and ISC families, plus the
public-domain-like and no-attribution variants of them (MIT-0, 0BSD, Zlib, BSL-1.0, CC0-1.0,
Unlicense), which ask even less of a user of the code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.metadata import Distribution

# SPDX ids (upper-cased) we accept; "WITH <exception>" clauses only add permissions.
PERMISSIVE_SPDX = frozenset(
    s.upper()
    for s in (
        "MIT",
        "MIT-0",
        "BSD-2-Clause",
        "BSD-3-Clause",
        "BSD-3-Clause-Clear",
        "0BSD",
        "Apache-2.0",
        "PSF-2.0",
        "Python-2.0",
        "CNRI-Python",
        "ISC",
        "Zlib",
        "BSL-1.0",
        "CC0-1.0",
        "Unlicense",
    )
)

# Free-text names (License field, classifiers) -> the family we record.
_PERMISSIVE_WORDS = (
    (re.compile(r"\bmit\b"), "MIT"),
    (re.compile(r"\bbsd\b"), "BSD"),
    (re.compile(r"\bapache\b|\basl\s*2"), "Apache-2.0"),
    (re.compile(r"\bpsf\b|python software foundation|\bpython\b"), "PSF"),
    (re.compile(r"\bisc\b|\biscl\b"), "ISC"),
)
_COPYLEFT = re.compile(
    r"\b(a|l)?gpl|general public|\bmpl\b|mozilla|\beupl\b|\bepl\b|eclipse|\bcddl\b|copyleft"
)
# A License field longer than this is a whole license text: its wording proves nothing.
_MAX_NAME_LENGTH = 120


@dataclass(frozen=True)
class LicenseVerdict:
    accepted: bool
    license: str  # what we record: the SPDX expression or the families found
    evidence: str  # "License-Expression" | "License+classifiers" | reason for a rejection


def classify(distribution: Distribution) -> LicenseVerdict:
    metadata = distribution.metadata
    expression = (metadata.get("License-Expression") or "").strip()
    if expression:
        accepted = spdx_is_permissive(expression)
        evidence = "License-Expression" if accepted else "License-Expression is not all permissive"
        return LicenseVerdict(accepted, expression, evidence)
    field = (metadata.get("License") or "").strip()
    classifiers = [
        c.split("::")[-1].strip() for c in metadata.get_all("Classifier") or [] if c.startswith("License ::")
    ]
    return classify_text(field, classifiers)


def classify_text(field: str, classifiers: list[str]) -> LicenseVerdict:
    """The verdict from a free-text License field and the License classifiers' last parts."""
    texts = [c.lower() for c in classifiers]
    if field and len(field) <= _MAX_NAME_LENGTH:
        texts.append(field.lower())
    label = "; ".join(classifiers) or field[:_MAX_NAME_LENGTH]
    if any(_COPYLEFT.search(t) for t in texts):
        return LicenseVerdict(False, label, "copyleft named in License/classifiers")
    families = sorted({family for t in texts for pattern, family in _PERMISSIVE_WORDS if pattern.search(t)})
    if families:
        return LicenseVerdict(True, " / ".join(families), "License+classifiers")
    return LicenseVerdict(False, label or "(none)", "no recognisable license")


def spdx_is_permissive(expression: str) -> bool:
    """Evaluate an SPDX expression: OR needs one permissive branch, AND needs all parts."""
    tokens = re.findall(r"\(|\)|[^\s()]+", expression)
    position = 0

    def parse_or() -> bool:
        nonlocal position
        value = parse_and()
        while position < len(tokens) and tokens[position].upper() == "OR":
            position += 1
            right = parse_and()
            value = value or right
        return value

    def parse_and() -> bool:
        nonlocal position
        value = parse_atom()
        while position < len(tokens) and tokens[position].upper() == "AND":
            position += 1
            right = parse_atom()
            value = value and right
        return value

    def parse_atom() -> bool:
        nonlocal position
        if position >= len(tokens):
            return False
        token = tokens[position]
        position += 1
        if token == "(":
            value = parse_or()
            position += 1  # the closing parenthesis
        else:
            value = token.rstrip("+").upper() in PERMISSIVE_SPDX
        if position < len(tokens) and tokens[position].upper() == "WITH":
            position += 2  # an exception only grants more
        return value

    try:
        return parse_or() and position >= len(tokens)
    except IndexError:
        return False
