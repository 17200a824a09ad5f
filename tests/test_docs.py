"""Tests of photomend.docs: the README operation table is generated and in sync."""

from __future__ import annotations

from pathlib import Path

import pytest

from photomend import docs, registry
from photomend.cli import main
from photomend.errors import PhotomendError

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_table_is_in_sync():
    diff = docs.check_readme(README)
    assert diff == "", f"README.md is stale; run `photomend docs --write README.md`\n{diff}"


def test_table_lists_every_operation_and_its_parameters():
    table = docs.operations_table()
    for spec in registry.operations():
        assert f"| `{spec.id}` | {spec.plain_label} | {spec.menu} |" in table
        for param in spec.params:
            kind = f"{param.kind} or a layer" if param.layer else param.kind
            assert f"`{param.name}` ({kind}, default" in table
    assert "`radius` (float, default 2 px, 0.1 to 100 px)" in table
    assert "`psf` (array or a layer, default none)" in table
    assert "`curves` (array, default none)" in table


def test_update_block_replaces_only_the_block():
    text = f"intro\n{docs.START}\nold table\n{docs.END}\noutro\n"
    new = docs.update_block(text, "| t |\n")
    assert new.startswith(f"intro\n{docs.START}\n") and new.endswith(f"{docs.END}\noutro\n")
    assert "old table" not in new and "| t |\n" in new
    assert docs.update_block(new, "| t |\n") == new


def test_missing_markers_are_an_error():
    with pytest.raises(PhotomendError, match="needs the markers"):
        docs.update_block("no markers here")


def test_check_and_write_commands(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{docs.START}\nstale\n{docs.END}\n", encoding="utf-8")
    assert main(["docs", "--check", str(readme)]) == 1
    out, err = capsys.readouterr()
    assert "-stale" in out and "out of date" in err and "docs --write" in err
    assert main(["docs", "--write", str(readme)]) == 0
    assert "updated" in capsys.readouterr().out
    assert main(["docs", "--check", str(readme)]) == 0
    assert "up to date" in capsys.readouterr().out


def test_docs_prints_the_table(capsys):
    assert main(["docs"]) == 0
    assert capsys.readouterr().out == docs.operations_table()
