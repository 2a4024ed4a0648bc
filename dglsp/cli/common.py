"""What every subcommand shares: FILE:LINE:COL, loading a file, settings from flags, errors.

Lines and columns on the command line are 1-based and count characters, as editors show
them in their status bar. Inside dglsp positions are str offsets; this module converts.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, get_args

from dglsp.config import Dtype, Settings, merge_settings

if TYPE_CHECKING:
    from dglsp.documents import Document
    from dglsp.engine import Progress

EXIT_OK = 0
EXIT_FAILED = 1  # the command ran and found a problem (doctor)
EXIT_USAGE = 2  # bad arguments, unreadable file, engine or model unavailable


class CliError(Exception):
    """A problem the user must fix; main() prints the message (no traceback) and exits."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def print_error(message: str) -> None:
    print(f"dglsp: {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Location:
    path: Path
    line: int  # 1-based
    column: int  # 1-based, in characters


_LOCATION = re.compile(r"^(?P<path>.+):(?P<line>[^:]+):(?P<column>[^:]+)$")


def parse_location(spec: str) -> Location:
    """FILE:LINE:COL; the path may itself contain ':' (split from the right)."""
    match = _LOCATION.match(spec)
    if match is None:
        raise CliError(f"expected FILE:LINE:COL (1-based, as your editor shows them), got {spec!r}")
    numbers = []
    for name in ("line", "column"):
        raw = match.group(name)
        if not re.fullmatch(r"[0-9]+", raw) or int(raw) < 1:
            raise CliError(f"{name} in {spec!r} must be a whole number >= 1 (1-based), got {raw!r}")
        numbers.append(int(raw))
    return Location(Path(match.group("path")), numbers[0], numbers[1])


def read_source(path: Path) -> str:
    """The file's text, exactly (line endings kept: offsets must match what the editor has)."""
    if not path.exists():
        raise CliError(f"no such file: {path}")
    if path.is_dir():
        raise CliError(f"{path} is a directory, not a source file")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror or error}") from None
    if b"\0" in data:
        raise CliError(f"{path} looks like a binary file (it contains NUL bytes); dglsp completes text")
    try:
        # utf-8-sig: a byte order mark is not a character the editor counts in column 1.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CliError(
            f"{path} is not UTF-8 text (invalid byte at offset {error.start}); dglsp reads UTF-8 files"
        ) from None


def load_document(path: Path) -> Document:
    """A dglsp Document for the file, its language taken from the extension."""
    from dglsp.documents import Document
    from dglsp.languages import language_for_path

    text = read_source(path)
    return Document(path.resolve().as_uri(), language_for_path(path), 0, text)


_LINE_BREAK = re.compile(r"\r\n?|\n")  # the line breaks LSP (and so dglsp) counts


def cursor_offset(text: str, location: Location) -> int:
    """The str offset of a 1-based LINE:COL; a clear CliError when it is outside the file."""
    from dglsp.documents import position_to_offset

    lines = _LINE_BREAK.split(text)
    where = f"{location.path}:{location.line}:{location.column}"
    if location.line > len(lines):
        raise CliError(f"{where} is past the end of the file: it has {len(lines)} lines")
    length = len(lines[location.line - 1])
    if location.column > length + 1:
        raise CliError(
            f"{where} is past the end of line {location.line}: it has {length} characters, "
            f"so the last column is {length + 1}"
        )
    # utf-32 units are code points: one per character, as the command line counts them.
    return position_to_offset(text, location.line - 1, location.column - 1, "utf-32")


def offset_to_line_col(text: str, offset: int) -> list[int]:
    """A str offset as [line, column], 1-based, columns in characters (the JSON form)."""
    from dglsp.documents import offset_to_position

    line, column = offset_to_position(text, offset, "utf-32")
    return [line + 1, column + 1]


# Flags that map onto Settings fields: flag dest -> Settings key.
_SETTING_FLAGS = {
    "model": "model",
    "device": "device",
    "dtype": "dtype",
    "engine": "engine",
    "steps": "steps",
    "seed": "seed",
    "entropy_bound": "entropyBound",
    "canvas_length": "canvasLength",
}


def add_model_flags(parser: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    """--model, --device and --dtype. `suppress` keeps a subcommand from overwriting the same
    flag given before the subcommand name (`dglsp --model M complete ...`)."""
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--model",
        metavar="M",
        default=default,
        help="Hugging Face id or local save_pretrained directory (default: the released DiffusionGemma)",
    )
    parser.add_argument(
        "--device",
        metavar="D",
        default=default,
        help="auto (CUDA when present, else CPU), cpu, cuda, cuda:1, ... (default: auto)",
    )
    parser.add_argument(
        "--dtype",
        choices=get_args(Dtype),
        default=default,
        help="precision of the model: auto (bfloat16 on CUDA; float32 for small models, else "
        "bfloat16, on the CPU), bfloat16, float32, or fp8 (the layers' weights in FP8: about half "
        "the memory, a small quality cost, see docs/benchmarks.md); default: auto",
    )


def add_engine_flag(parser: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    """--engine: where the model runs (see the `engine` setting)."""
    parser.add_argument(
        "--engine",
        metavar="E",
        default=argparse.SUPPRESS if suppress else None,
        help="auto (the resident `dglsp serve`, started when none runs), inprocess, a socket path, "
        "or an OpenAI-compatible URL (default: auto)",
    )


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings from the defaults plus the flags given; a bad value is an error, not a fallback."""
    settings = Settings()
    for dest, key in _SETTING_FLAGS.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        settings, problems = merge_settings(settings, {key: value})
        if problems:
            # merge_settings words problems for editors ("... (kept 48)"): say which flag instead.
            reasons = "; ".join(re.sub(r" \(kept .*\)$", "", problem) for problem in problems)
            raise CliError(f"bad value for --{dest.replace('_', '-')}: {reasons}")
    return settings


def chosen_settings(settings: Settings) -> Settings:
    """The settings with the bundled model standing in for a default that cannot run here.

    Says so on stderr (stdout carries the result), naming the flag that selects the real model.
    """
    from dglsp.engine.model_choice import choose_model

    choice = choose_model(settings)
    notice = choice.notice("--model")
    if notice:
        print(notice, file=sys.stderr)
    return choice.settings


def setup_logging(level: str, log_file: str | None) -> None:
    """Logs go to stderr or a file, never stdout: stdout carries LSP messages or the result."""
    handler: logging.Handler
    if log_file:
        try:
            handler = logging.FileHandler(log_file, encoding="utf-8")
        except OSError as error:
            raise CliError(f"cannot open log file {log_file}: {error.strerror or error}") from None
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.CRITICAL + 1 if level == "off" else level.upper())


class ProgressPrinter:
    """Model-loading progress on stderr: one rewritten line on a terminal, otherwise one
    plain line per stage (logs and CI output stay readable)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._tty = self._stream.isatty()
        self._last_message: str | None = None
        self._line_open = False

    def __call__(self, progress: Progress) -> None:
        message, percentage = progress.message, progress.percentage
        if self._tty:
            suffix = f" {percentage:3d}%" if percentage is not None else ""
            self._stream.write(f"\r\033[K{message}{suffix}")
            self._line_open = True
        elif message != self._last_message:
            self._stream.write(f"{message}\n")
        self._last_message = message
        self._stream.flush()

    def done(self) -> None:
        """Erase the rewritten line: once loaded, the progress has nothing more to say."""
        if self._line_open:
            self._stream.write("\r\033[K")
            self._stream.flush()
            self._line_open = False
