"""No stage can go stale: every DVC stage declares, as deps, every annotune module its script imports
(transitively, function-level imports included: they run too) and, as params, every params.yaml section
its script reads. Computed from the code, so a new import or a new ``params.x`` read without its dvc.yaml
entry fails here instead of leaving committed metrics silently stale."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]

# What reading these Params members (methods, not sections) reads in params.yaml.
PARAMS_METHODS = {"task": {"dataset", "table.tasks"}}


def module_file(name: str) -> Path | None:
    """The file of an ``annotune`` or ``stages`` module (package: its __init__.py); None for third-party."""
    if not name.startswith(("annotune", "stages")):
        return None
    path = ROOT.joinpath(*name.split("."))
    if path.is_dir():
        return path / "__init__.py"
    return path.with_suffix(".py") if path.with_suffix(".py").exists() else None


def imported_modules(path: Path) -> set[str]:
    """Every module an ``import`` or ``from ... import`` anywhere in ``path`` names, including
    ``from annotune import baselines`` (a submodule) and the parent packages, which Python runs first."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    with_parents = set()
    for name in names:
        parts = name.split(".")
        with_parents |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    return with_parents


def closure(script: Path) -> set[Path]:
    """The project files ``script`` runs: itself and every annotune module it imports, transitively."""
    seen: set[Path] = set()
    todo = [script]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo += [f for f in map(module_file, imported_modules(path)) if f is not None and f.exists()]
    return {p for p in seen if not is_docstring_only(p)}


def is_docstring_only(path: Path) -> bool:
    """A package's __init__.py that holds only its docstring runs no code a stage depends on."""
    body = ast.parse(path.read_text()).body
    return path.name == "__init__.py" and all(
        isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body
    )


def stage_code(script: Path) -> list[ast.AST]:
    """The script's code, and the ``main`` it imports from the library where the script only delegates to it
    (``annotate``: the same main serves the stage and ``annotune annotate``)."""
    tree = ast.parse(script.read_text())
    code: list[ast.AST] = [tree]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and any(alias.name == "main" for alias in node.names):
            library = ast.parse(module_file(node.module).read_text())
            code += [f for f in library.body if isinstance(f, ast.FunctionDef) and f.name == "main"]
    return code


def params_read(script: Path) -> set[str]:
    """The params sections the script reads: ``params.<section>[.<key>]`` chains, ``params.<section>.get("key")`` on
    a section kept as a mapping (``tune``), and Params methods."""
    read: set[str] = set()
    nodes = [n for code in stage_code(script) for n in ast.walk(code)]
    inner = {id(n.value) for n in nodes if isinstance(n, ast.Attribute)}  # read the longest chains only
    for node in nodes:
        if not isinstance(node, ast.Attribute) or id(node) in inner:
            continue
        chain = []
        current = node
        while isinstance(current, ast.Attribute):
            chain.insert(0, current.attr)
            current = current.value
        if chain[-1] == "get":  # the key is the call's argument
            calls = [n for n in nodes if isinstance(n, ast.Call) and n.func is node and n.args]
            if calls and isinstance(calls[0].args[0], ast.Constant):
                chain[-1] = str(calls[0].args[0].value)
        loaded = isinstance(current, ast.Call) and getattr(current.func, "id", None) == "load_params"
        if (loaded or isinstance(current, ast.Name) and current.id == "params") and chain:
            # a section, or a section's key where the script reads one key only (annotate.chunk_size)
            read |= PARAMS_METHODS.get(chain[0], {".".join(chain[:2])})
    return read


def passes_params_whole(script: Path) -> list[int]:
    """Lines where the whole ``params`` object is handed to a function: what that function reads cannot be
    seen here, so stage scripts pass sections instead."""
    lines = []
    for node in (n for code in stage_code(script) for n in ast.walk(code)):
        if isinstance(node, ast.Call):
            arguments = [*node.args, *(k.value for k in node.keywords)]
            whole = [a for a in arguments if isinstance(a, ast.Name) and a.id == "params"]
            whole += [a for a in arguments if isinstance(a, ast.Call) and getattr(a.func, "id", None) == "load_params"]
            if whole:
                lines.append(node.lineno)
    return lines


def stage_definitions() -> dict[str, dict]:
    """dvc.yaml's stage definitions (unexpanded: a foreach / matrix stage is one definition)."""
    stages = YAML(typ="safe").load((ROOT / "dvc.yaml").read_text())["stages"]
    return {name: stage.get("do", stage) for name, stage in stages.items()}


def script_of(stage: dict) -> Path:
    words = stage["cmd"].split()
    module = next(w for w in words if w.startswith("stages."))
    return ROOT / (module.replace(".", "/") + ".py")


def declared(entries: list) -> set[str]:
    names = set()
    for entry in entries or []:
        names |= set(entry) if isinstance(entry, dict) else {entry}
    return names


def covers(declared_paths: set[str], path: str) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in declared_paths)


def covers_param(declared_params: set[str], key: str) -> bool:
    """``qlora`` covers ``qlora.r``; a foreach key (``models.${key}``) covers the section it indexes."""
    plain = {d.split(".${")[0] for d in declared_params}
    return any(key == d or key.startswith(d + ".") for d in plain)


STAGES = stage_definitions()

# Params a script reads on one branch only, by stage definition: predict.py hands the prompting section and the
# seed (few-shot exemplars) to prompted systems alone, so the fine-tuned and baseline predictions do not rerun
# when prompting changes. Each entry is such a branch, checked in the script by hand; keep it short.
READ_ONLY_BY_OTHER_SYSTEMS = {"predict": {"prompting", "seed"}, "predict_baseline": {"prompting", "seed"}}


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_declares_every_module_it_imports(name):
    stage = STAGES[name]
    deps = declared(stage.get("deps"))
    needed = sorted(str(p.relative_to(ROOT)) for p in closure(script_of(stage)))
    missing = [path for path in needed if not covers(deps, path)]
    assert not missing, f"dvc.yaml stage {name}: add these deps (the script imports them): {missing}"


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_declares_no_code_it_does_not_import(name):
    """A module declared but not imported reruns the stage for nothing when it changes."""
    stage = STAGES[name]
    needed = {str(p.relative_to(ROOT)) for p in closure(script_of(stage))}
    extra = sorted(d for d in declared(stage.get("deps")) if d.endswith(".py") and d not in needed)
    assert not extra, f"dvc.yaml stage {name}: remove these deps (the script does not import them): {extra}"


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_declares_every_params_section_it_reads(name):
    stage = STAGES[name]
    script = script_of(stage)
    assert not passes_params_whole(script), (
        f"{script.name} hands the whole params to a function (lines "
        + str(passes_params_whole(script))
        + "): pass the sections it needs, so its params can be declared"
    )
    params = {p for entry in stage.get("params", []) for p in ([entry] if isinstance(entry, str) else entry)}
    exempt = READ_ONLY_BY_OTHER_SYSTEMS.get(name, set())
    missing = sorted(key for key in params_read(script) if not covers_param(params, key) and key not in exempt)
    assert not missing, f"dvc.yaml stage {name}: add these params (the script reads them): {missing}"


def test_closure_follows_function_level_and_submodule_imports(tmp_path):
    """The closure itself: ``from annotune import x`` and imports inside functions are followed."""
    script = ROOT / "stages" / "predict.py"
    files = {str(p.relative_to(ROOT)) for p in closure(script)}
    assert {"annotune/systems/predictors.py", "annotune/systems/models.py", "annotune/systems/classifiers.py"} <= files
    # a system is one object (annotune/systems/): predict reaches each kind's class, whose train imports the
    # training code (the QLoRA trainer too) inside the method
    assert {"annotune/systems/kinds.py", "annotune/systems/adapter.py", "annotune/systems/training.py"} <= files
    assert "annotune/evaluation/report.py" not in files and "annotune/workflows/tune.py" not in files
    light = {str(p.relative_to(ROOT)) for p in closure(ROOT / "stages" / "report.py")}
    assert "annotune/systems/registry.py" in light and "annotune/systems/kinds.py" not in light  # the registry only
