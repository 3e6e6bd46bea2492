"""Layering of the packages: no import cycle between dmft.stationary and dmft.thresholds, no upward import
from odes/ or dmft/ into validation/ (checked on the source with ast)."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _imports(path: pathlib.Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def _top_level_imports(path: pathlib.Path) -> set[str]:
    out: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def test_no_upward_import_into_validation():
    for pkg in ("odes", "dmft"):
        for f in (ROOT / pkg).rglob("*.py"):
            bad = {m for m in _imports(f) if m == "validation" or m.startswith("validation.")}
            assert not bad, f"{f.relative_to(ROOT)} imports {bad}"


def test_thresholds_does_not_import_stationary_at_module_level():
    assert "dmft.stationary" not in _top_level_imports(ROOT / "dmft" / "thresholds.py")
    code = "import sys, dmft.thresholds; assert 'dmft.stationary' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
