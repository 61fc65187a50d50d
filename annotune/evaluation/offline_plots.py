"""The review page: `dvc plots show` / `dvc plots diff` as one HTML page that renders without internet.

    annotune plots show                  # the workspace -> dvc_plots/index.html
    annotune plots diff main             # workspace vs main, revisions overlaid as DVC does
    annotune plots diff exp-a exp-b -o review --open
    annotune plots tables ci-base ci-head    # each task's main-metric table per revision, as Markdown
    annotune plots definitions           # dvc.yaml's top-level `plots:` for params.yaml's tasks and systems

Per task, in this order: the task's verdict (metrics/summary.md) and its main-metric table
(metrics/eval/<task>.json), then its charts -- ROC, precision-recall, reliability, confusion matrices,
QLoRA training / dev loss -- as declared in dvc.yaml's top-level `plots:` (ids `<task>/<chart>`). The charts
are DVC's own Vega-Lite specs (`dvc plots ... --json`); Vega, Vega-Lite and Vega-Embed are inlined from the
vl-convert-python wheel, so the page loads nothing from the network. Other arguments go to DVC unchanged;
`--json`, `--md`, `--show-vega` and `--split` give DVC's own output.
"""

from __future__ import annotations

import json
import subprocess
import sys
import webbrowser
from pathlib import Path

# This module is the command; the page's parts live beside it: dvc.yaml's chart definitions in
# dvc_sections.py, the per-revision metric tables in plots_tables.py, the HTML page in plots_page.py.
from annotune.evaluation.dvc_sections import definitions_yaml
from annotune.evaluation.plots_page import build_page, chart_revisions, group_charts, vega_bundle
from annotune.evaluation.plots_tables import Revisions, table_markdown, task_table

PASSTHROUGH = {"--json", "--md", "--show-vega", "--split"}


def _split_output(args: list[str]) -> tuple[Path, bool, list[str]]:
    out, open_page, rest = Path("dvc_plots"), False, []
    items = iter(args)
    for arg in items:
        if arg in ("-o", "--out"):
            out = Path(next(items, "dvc_plots"))
        elif arg.startswith("--out="):
            out = Path(arg.split("=", 1)[1])
        elif arg == "--open":
            open_page = True
        elif arg in ("--html-template",):
            next(items, None)  # the page is ours
        else:
            rest.append(arg)
    return out, open_page, rest


def render(command: str, args: list[str]) -> int:
    out, open_page, rest = _split_output(args)
    dvc = [sys.executable, "-m", "dvc", "plots", command, "--json", *rest]
    result = subprocess.run(dvc, capture_output=True, text=True)
    if result.returncode != 0 or not result.stdout.strip():
        sys.stderr.write(result.stderr)
        return result.returncode or 1
    output = json.loads(result.stdout)
    data, errors = output.get("data", {}), output.get("errors", [])
    if errors:
        print(f"annotune plots: {len(errors)} source(s) DVC could not load, listed under their charts", file=sys.stderr)
    revs, files = chart_revisions(data), Revisions()
    grouped, _ = group_charts(data)
    tables = {task: task_table(task, revs, files) for task in grouped}
    page = build_page(data, errors, tables, vega_bundle(), " ".join(["annotune plots", command, *args]))
    out.mkdir(parents=True, exist_ok=True)
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    print(index.resolve().as_uri())
    if open_page:
        webbrowser.open(index.resolve().as_uri())
    return 0


def _tasks_at(rev: str, files: Revisions) -> list[str]:
    from ruamel.yaml import YAML

    tasks = (YAML(typ="safe").load(files.read(rev, "params.yaml") or "") or {}).get("tasks") or []
    return [t for t in tasks if isinstance(t, str)]


def tables(revs: list[str]) -> int:
    files, order = Revisions(), []
    revs = revs or ["workspace"]
    unknown = [rev for rev in revs if rev != "workspace" and files.sha(rev) is None]
    if unknown:
        print(f"annotune plots tables: unknown revision(s) {', '.join(unknown)}", file=sys.stderr)
        return 1
    for rev in revs:
        order += [t for t in _tasks_at(rev, files) if t not in order]
    for task in order:
        print(table_markdown(task_table(task, revs, files)))
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("show", "diff", "tables", "definitions"):
        print(__doc__, file=sys.stderr)
        return 2
    command, args = argv[0], argv[1:]
    if command == "definitions":
        from annotune.config import load_params

        print(definitions_yaml(load_params()), end="")
        return 0
    if command == "tables":
        return tables(args)
    if PASSTHROUGH & set(args):
        return subprocess.run([sys.executable, "-m", "dvc", "plots", command, *args], check=False).returncode
    return render(command, args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
