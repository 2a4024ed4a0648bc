"""Training data: license verdicts, collecting with a manifest, the train / held-out split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dglsp.training.data import Origin, collect, split_files, split_of
from dglsp.training.licenses import classify_text, spdx_is_permissive

PYTHON = (
    "import os\n\n\ndef main(argv):\n    for name in argv:\n"
    "        print(os.path.basename(name))\n    return 0\n"
)


@pytest.mark.parametrize(
    ("expression", "permissive"),
    [
        ("MIT", True),
        ("Apache-2.0 OR BSD-2-Clause", True),
        ("MIT OR GPL-3.0-only", True),
        ("MPL-2.0 AND MIT", False),
        ("Apache-2.0 AND Apache-2.0 WITH LLVM-exception AND BSD-3-Clause", True),
        ("(MIT OR Apache-2.0) AND GPL-2.0", False),
        ("PSF-2.0", True),
        ("LGPL-3.0-or-later", False),
        ("", False),
    ],
)
def test_spdx_expressions(expression, permissive):
    assert spdx_is_permissive(expression) is permissive


def test_free_text_licenses_and_classifiers():
    assert classify_text("MIT", []).accepted
    assert (
        classify_text("Dual License", ["BSD License", "Apache Software License"]).license
        == "Apache-2.0 / BSD"
    )
    assert classify_text("UNKNOWN", ["ISC License (ISCL)"]).accepted
    # Any copyleft mention rejects, even beside a permissive one (per-file licensing).
    assert not classify_text("", ["BSD License", "GNU General Public License (GPL)"]).accepted
    assert not classify_text("Mozilla Public License 2.0 (MPL 2.0)", []).accepted
    assert not classify_text("", []).accepted
    # A whole license text in the field proves nothing by its wording.
    assert not classify_text("Copyright (c) 2001 Someone. MIT-like terms follow... " * 5, []).accepted


def test_split_is_deterministic_and_near_the_fraction():
    keys = [f"pkg/module_{i}.py" for i in range(4000)]
    first = [split_of(k) for k in keys]
    assert first == [split_of(k) for k in keys]
    heldout = first.count("heldout") / len(keys)
    assert 0.03 < heldout < 0.07
    assert all(split_of(k, 0.0) == "train" for k in keys[:50])


def _write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_heldout_files_never_reach_training(tmp_path):
    keys = [f"lib/m{i}.py" for i in range(200)]
    for i, key in enumerate(keys):
        _write(tmp_path, key, PYTHON.replace("main", f"main_{i}"))
    heldout_keys = [k for k in keys if split_of(k) == "heldout"]
    assert heldout_keys, "the fixture needs at least one held-out file"
    # A copy of a held-out file under a training name must not leak it into training.
    copy = _write(tmp_path, "copies/leak.py", (tmp_path / heldout_keys[0]).read_text())
    assert split_of("copies/leak.py") == "train"

    split = split_files([tmp_path])
    train_keys = {f.key for f in split.train}
    assert {f.key for f in split.heldout} == set(heldout_keys)
    assert not train_keys & set(heldout_keys)
    assert copy.relative_to(tmp_path).as_posix() not in train_keys
    heldout_texts = {(tmp_path / k).read_text() for k in heldout_keys}
    assert not any(f.path.read_text() in heldout_texts for f in split.train)
    assert len(split.train) + len(split.heldout) + split.dropped_duplicates == len(keys) + 1


def test_only_known_languages_are_listed(tmp_path):
    _write(tmp_path, "a.py", PYTHON)
    _write(tmp_path, "b.js", "function f(a) {\n  return a + 1;\n}\n\nconst g = (x) => x;\n")
    _write(tmp_path, "notes.txt", "not code\n")
    _write(tmp_path, "pkg/__pycache__/a.py", PYTHON)
    split = split_files([tmp_path], heldout_fraction=0.0)
    assert sorted((f.key, f.language) for f in split.train) == [("a.py", "python"), ("b.js", "javascript")]


def test_collect_copies_usable_files_and_records_licenses(tmp_path):
    source = tmp_path / "site"
    good = _write(source, "pkg/good.py", PYTHON)
    duplicate = _write(source, "other/same.py", PYTHON)
    broken = _write(source, "pkg/broken.py", "def f(:\n    pass\n    x = (\n    y\n")
    minified = _write(source, "pkg/min.js", "var a=1;" * 200 + "\n" * 5)
    js = _write(source, "pkg/app.js", "function add(a, b) {\n  const c = a + b;\n  return c;\n}\n")
    origins = [
        Origin("pkg", "1.0", "MIT", "License-Expression", ((good, "pkg/good.py"), (broken, "pkg/broken.py"))),
        Origin(
            "other",
            "2.0",
            "BSD",
            "classifiers",
            ((duplicate, "same.py"), (minified, "min.js"), (js, "app.js")),
        ),
    ]
    out = tmp_path / "data"
    manifest = collect(out, origins, rejected=[{"name": "gpl-thing", "license": "GPL-3.0", "reason": "x"}])

    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert sorted(f["path"] for f in manifest["files"]) == ["other/app.js", "pkg/pkg/good.py"]
    assert (out / "pkg/pkg/good.py").read_text() == PYTHON
    assert [(s["name"], s["license"], s["files"]) for s in manifest["sources"]] == [
        ("pkg", "MIT", 1),
        ("other", "BSD", 1),
    ]
    assert manifest["rejected"][0]["name"] == "gpl-thing"
    assert manifest["skipped_files"] == {"does not parse": 1, "duplicate": 1, "minified or data": 1}
    # The manifest's split is the one training computes for the collected folder.
    split = split_files([out])
    recorded = {f["path"]: f["split"] for f in manifest["files"]}
    assert {f.key: "train" for f in split.train} | {f.key: "heldout" for f in split.heldout} == recorded


def test_installed_distributions_are_filtered_by_license():
    from dglsp.training.data import VENDOR_DIRS, distribution_origins

    accepted, rejected = distribution_origins()
    assert accepted, "this environment has permissive packages (tree-sitter, pygls, ...)"
    names = {origin.name.lower() for origin in accepted}
    assert "pygls" in names  # Apache-2.0, a dglsp dependency
    for origin in accepted:
        assert "GPL" not in origin.license and "MPL" not in origin.license
        for _path, relative in origin.files:
            assert not VENDOR_DIRS & set(Path(relative).parts)
    assert all(entry["reason"] for entry in rejected)
