"""Training data: collecting permissive source files offline, and the train / held-out split.

Collect once, into a self-contained folder with a license manifest:

    python -m dglsp.training.data DIR        # or dglsp.training.data.collect(DIR)

copies the running interpreter's standard library (PSF-2.0) and every installed distribution
whose metadata says it is permissively licensed (see licenses.py) into DIR/<source>/<path>,
and writes DIR/manifest.json: each source with its version and license, each rejected
distribution with the reason, each file with its language and split. Only files of languages
dglsp knows (dglsp.languages) are taken; vendored copies (`_vendor/`, `third_party/`, ...)
are skipped because their license is not the package's; so are generated or minified files,
files tree-sitter cannot parse cleanly, and exact duplicates.

Train on any folders (`dglsp train --data DIR...`); a folder needs no manifest. The split is
by file and deterministic: a file is held out when the hash of its path relative to its
--data folder falls below `heldout_fraction`. A training file whose content equals a held-out
file's is dropped too, so a held-out file never reaches training under another name.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import sysconfig
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from dglsp.languages import LANGUAGES, grammar, language_for_path
from dglsp.training.licenses import classify

HELDOUT_FRACTION = 0.05
# Larger files are generated (parsers, tables) or data, not code people write.
MAX_FILE_BYTES = 150_000
MAX_LINE_CHARS = 800  # longer lines mean minified or embedded data
MIN_CODE_LINES = 4
VENDOR_DIRS = frozenset(
    {"_vendor", "vendor", "_vendored", "vendored", "third_party", "thirdparty", "_extern", "extern"}
)
SKIP_DIRS = frozenset({"__pycache__", "site-packages", "dist-packages", ".git"})
STDLIB_SOURCE = "python-stdlib"
STDLIB_LICENSE = "PSF-2.0"
SPLITS = ("train", "heldout")


@dataclass(frozen=True)
class SourceFile:
    path: Path  # where to read it
    key: str  # its path relative to its --data folder, '/'-separated: decides the split
    language: str


@dataclass
class Split:
    train: list[SourceFile] = field(default_factory=list)
    heldout: list[SourceFile] = field(default_factory=list)
    dropped_duplicates: int = 0


def split_of(key: str, heldout_fraction: float = HELDOUT_FRACTION) -> str:
    """'train' or 'heldout' for a file key, the same on every machine and every run."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return "heldout" if int.from_bytes(digest[:8], "big") / 2**64 < heldout_fraction else "train"


def read_code(path: Path) -> str | None:
    """The file's text with \\n line ends, or None when it is not UTF-8 text."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if b"\0" in data:
        return None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def code_files(root: Path) -> Iterator[SourceFile]:
    """Files under `root` in a language dglsp knows, in a stable order."""
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part in SKIP_DIRS or part.startswith(".") for part in relative.parts[:-1]):
            continue
        language = language_for_path(path)
        if language in LANGUAGES and path.is_file():
            yield SourceFile(path, relative.as_posix(), language)


def split_files(data_dirs: Iterable[Path], heldout_fraction: float = HELDOUT_FRACTION) -> Split:
    """Every code file of the folders, split by file; duplicates of held-out files dropped."""
    split = Split()
    for directory in data_dirs:
        for source in code_files(Path(directory)):
            getattr(split, split_of(source.key, heldout_fraction)).append(source)
    heldout_contents = {_content_hash(f.path) for f in split.heldout}
    seen: set[str] = set()
    train = []
    for source in split.train:
        digest = _content_hash(source.path)
        if digest in heldout_contents or digest in seen:
            split.dropped_duplicates += 1
            continue
        seen.add(digest)
        train.append(source)
    split.train = train
    return split


def _content_hash(path: Path) -> str:
    text = read_code(path) or ""
    return hashlib.sha256(text.strip().encode("utf-8", "surrogatepass")).hexdigest()


# --- collecting -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Origin:
    """One place to take files from: the stdlib or one distribution."""

    name: str
    version: str
    license: str
    evidence: str
    files: tuple[tuple[Path, str], ...]  # (absolute path, path to store it under)


def stdlib_origin() -> Origin:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = tuple((source.path, source.key) for source in code_files(root))
    return Origin(STDLIB_SOURCE, sys.version.split()[0], STDLIB_LICENSE, "CPython standard library", files)


def distribution_origins() -> tuple[list[Origin], list[dict]]:
    """Permissive installed distributions as Origins, and the rejected ones with reasons."""
    accepted, rejected = [], []
    seen: set[str] = set()
    for distribution in sorted(metadata.distributions(), key=lambda d: (d.metadata["Name"] or "").lower()):
        name = distribution.metadata["Name"] or ""
        if not name or name.lower() in seen:
            continue
        seen.add(name.lower())
        verdict = classify(distribution)
        version = distribution.version or ""
        if not verdict.accepted:
            rejected.append(
                {"name": name, "version": version, "license": verdict.license, "reason": verdict.evidence}
            )
            continue
        files = []
        for entry in distribution.files or []:
            relative = Path(str(entry))
            if relative.is_absolute() or ".." in relative.parts:
                continue  # console scripts and data outside site-packages
            if language_for_path(relative) in LANGUAGES and not VENDOR_DIRS & set(relative.parts[:-1]):
                files.append((Path(distribution.locate_file(entry)), relative.as_posix()))
        if files:
            accepted.append(Origin(name, version, verdict.license, verdict.evidence, tuple(sorted(files))))
    return accepted, rejected


def usable_code(text: str, language: str) -> str | None:
    """Why a file is not worth training on, or None when it is."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        return "too large"
    lines = text.split("\n")
    if max(map(len, lines), default=0) > MAX_LINE_CHARS:
        return "minified or data"
    if sum(1 for line in lines if line.strip()) < MIN_CODE_LINES:
        return "too short"
    try:
        lang = grammar(language)
    except (ImportError, ValueError):
        lang = None
    if lang is not None:
        import tree_sitter

        if tree_sitter.Parser(lang).parse(text.encode("utf-8", "surrogatepass")).root_node.has_error:
            return "does not parse"
    return None


def collect(
    out: Path,
    origins: list[Origin] | None = None,
    rejected: list[dict] | None = None,
    heldout_fraction: float = HELDOUT_FRACTION,
) -> dict:
    """Copy the origins' usable files into `out` and write out/manifest.json (returned).

    Without `origins`: the standard library plus every permissive installed distribution.
    """
    if origins is None:
        found, rejected = distribution_origins()
        origins = [stdlib_origin(), *found]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    sources, files, skipped = [], [], {}
    for origin in origins:
        kept = 0
        for path, relative in origin.files:
            text = read_code(path)
            language = language_for_path(path)
            reason = "not UTF-8 text" if text is None else usable_code(text, language)
            digest = hashlib.sha256((text or "").strip().encode("utf-8", "surrogatepass")).hexdigest()
            if reason is None and digest in seen:
                reason = "duplicate"
            if reason is not None:
                skipped[reason] = skipped.get(reason, 0) + 1
                continue
            seen.add(digest)
            key = f"{_safe_name(origin.name)}/{relative}"
            target = out / key
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            files.append(
                {
                    "path": key,
                    "source": origin.name,
                    "language": language,
                    "split": split_of(key, heldout_fraction),
                }
            )
            kept += 1
        if kept:
            sources.append(
                {
                    "name": origin.name,
                    "version": origin.version,
                    "license": origin.license,
                    "license_evidence": origin.evidence,
                    "files": kept,
                }
            )
    manifest = {
        "heldout_fraction": heldout_fraction,
        "python": sys.version.split()[0],
        "sources": sources,
        "rejected": rejected or [],
        "skipped_files": dict(sorted(skipped.items())),
        "files": files,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def summary(manifest: dict) -> dict:
    """Files per language and split: what the manifest holds, in a few numbers."""
    counts: dict[str, dict[str, int]] = {}
    for entry in manifest["files"]:
        per_split = counts.setdefault(entry["language"], dict.fromkeys(SPLITS, 0))
        per_split[entry["split"]] += 1
    return {"sources": len(manifest["sources"]), "rejected": len(manifest["rejected"]), "files": counts}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dglsp.training.data",
        description="Collect permissively licensed source files on this machine for `dglsp train`.",
    )
    parser.add_argument(
        "out", type=Path, help="folder to copy the files into (manifest.json is written there)"
    )
    parser.add_argument("--heldout-fraction", type=float, default=HELDOUT_FRACTION)
    args = parser.parse_args(argv)
    manifest = collect(args.out, heldout_fraction=args.heldout_fraction)
    print(json.dumps(summary(manifest), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
