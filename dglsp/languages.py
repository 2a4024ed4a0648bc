"""The languages dglsp knows: LSP language ids, file extensions and tree-sitter grammars.

One table so the server (languageId from didOpen), the CLI (file extension) and the carver
(grammar + query file) agree on names. A language that is not here still gets completions:
carving falls back to a window of lines.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from pathlib import Path

import tree_sitter


@dataclass(frozen=True)
class LanguageInfo:
    name: str  # dglsp's name, also the query file name: grammars/<name>.scm
    module: str  # the PyPI grammar package's import name
    function: str  # the function of that module returning the language pointer
    extensions: tuple[str, ...]
    lsp_ids: tuple[str, ...]  # LSP languageId values that map to this language


LANGUAGES: dict[str, LanguageInfo] = {
    info.name: info
    for info in (
        LanguageInfo("python", "tree_sitter_python", "language", (".py", ".pyi"), ("python",)),
        LanguageInfo(
            "javascript",
            "tree_sitter_javascript",
            "language",
            (".js", ".mjs", ".cjs", ".jsx"),
            ("javascript", "javascriptreact"),
        ),
        LanguageInfo(
            "typescript",
            "tree_sitter_typescript",
            "language_typescript",
            (".ts", ".mts", ".cts"),
            ("typescript",),
        ),
        LanguageInfo("tsx", "tree_sitter_typescript", "language_tsx", (".tsx",), ("typescriptreact", "tsx")),
        LanguageInfo("rust", "tree_sitter_rust", "language", (".rs",), ("rust",)),
        LanguageInfo("go", "tree_sitter_go", "language", (".go",), ("go",)),
        LanguageInfo("c", "tree_sitter_c", "language", (".c", ".h"), ("c",)),
        LanguageInfo(
            "cpp",
            "tree_sitter_cpp",
            "language",
            (".cc", ".cpp", ".cxx", ".hpp", ".hh", ".hxx", ".c++", ".h++"),
            ("cpp", "c++"),
        ),
        LanguageInfo("java", "tree_sitter_java", "language", (".java",), ("java",)),
    )
}

_BY_LSP_ID = {lsp_id: info.name for info in LANGUAGES.values() for lsp_id in info.lsp_ids}
_BY_EXTENSION = {ext: info.name for info in LANGUAGES.values() for ext in info.extensions}


def language_for_lsp_id(language_id: str) -> str:
    """dglsp's language name for an LSP languageId; unknown ids pass through unchanged."""
    return _BY_LSP_ID.get(language_id, language_id)


def language_for_path(path: str | Path) -> str:
    """dglsp's language name from a file name; 'plaintext' when the extension is unknown."""
    return _BY_EXTENSION.get(Path(path).suffix.lower(), "plaintext")


@functools.cache
def grammar(name: str) -> tree_sitter.Language | None:
    """The tree-sitter language for a dglsp language name, or None when there is no grammar."""
    info = LANGUAGES.get(name)
    if info is None:
        return None
    module = importlib.import_module(info.module)
    return tree_sitter.Language(getattr(module, info.function)())


def grammars_dir() -> Path:
    """Where the query files are: inside the installed package, or grammars/ in a source checkout."""
    packaged = Path(__file__).parent / "grammars"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "grammars"
