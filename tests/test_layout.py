"""The library's layout holds (docs/architecture.md, The folders): every module says what lives there and stays
under 400 lines, the packages import downwards only, and no module outside the systems package switches on a
system's name."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from annotune.systems import REGISTRY

LIBRARY = Path(__file__).resolve().parents[1] / "annotune"
MODULES = sorted(LIBRARY.rglob("*.py"))
# bottom to top: a module imports from its own layer or a lower one
LAYERS = ["errors", "runtime", "config", "data", "systems", "evaluation", "workflows", "commands"]
# config validates system and task names against these two pure-data modules (no model code, no files read)
ALLOWED_UPWARDS = {
    ("config", "annotune.systems"),
    ("config", "annotune.systems.registry"),
    ("config", "annotune.data.tasks"),
}
# a registry name that means something else here: "stratified" is also prepare.test_sampling's stratified sample
OTHER_MEANINGS = {("annotune/data/datasets/__init__.py", "stratified")}


def layer(dotted: str) -> str | None:
    parts = dotted.split(".")
    return parts[1] if parts[0] == "annotune" and len(parts) > 1 else None


def relative(path: Path) -> str:
    return str(path.relative_to(LIBRARY.parent))


@pytest.mark.parametrize("path", MODULES, ids=relative)
def test_module_says_what_lives_there_in_under_400_lines(path):
    source = path.read_text()
    assert ast.get_docstring(ast.parse(source)), f"{relative(path)}: no module docstring"
    assert len(source.splitlines()) <= 400, f"{relative(path)}: {len(source.splitlines())} lines (split it by concern)"


def test_packages_import_downwards_only():
    rank = {name: i for i, name in enumerate(LAYERS)}
    places = {layer(".".join(p.relative_to(LIBRARY.parent).with_suffix("").parts)) for p in MODULES} - {"__init__"}
    assert places <= set(LAYERS), f"packages or modules on no layer (add them to LAYERS): {places - set(LAYERS)}"
    upwards = []
    for path in MODULES:
        own = layer(".".join(path.relative_to(LIBRARY.parent).with_suffix("").parts))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                other = layer(name)
                if own in rank and other in rank and rank[other] > rank[own] and (own, name) not in ALLOWED_UPWARDS:
                    upwards.append(f"{relative(path)}:{node.lineno} ({own}) imports {name} ({other})")
    assert not upwards, "\n".join(upwards)


def test_no_module_outside_systems_names_a_system():
    """A system's facts live in its registry entry and its kind's module; everyone else reads those facts.
    config's defaults are params.yaml's values (``distill.labeller: qlora``), so config is left out."""
    named = []
    for path in MODULES:
        if path.parent.name in ("systems", "config"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in REGISTRY:
                if (relative(path), node.value) not in OTHER_MEANINGS:
                    named.append(f"{relative(path)}:{node.lineno}: {node.value!r}")
    assert not named, "\n".join(named)
