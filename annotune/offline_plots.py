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

import html
import json
import re
import subprocess
import sys
import webbrowser
from pathlib import Path

# The Vega-Lite major version of DVC's built-in templates ($schema .../vega-lite/v5.json).
VEGA_LITE_VERSION = "5.21"

# chart -> DVC template, x field, y field, title, x label, y label, legend title. The order is the page's.
CHARTS = {
    "roc": ("simple", "fpr", "tpr", "ROC curves", "false positive rate", "true positive rate", "system"),
    "pr": ("simple", "recall", "precision", "precision-recall curves", "recall", "precision", "system"),
    "reliability": (
        "simple",
        "confidence",
        "accuracy",
        "reliability diagram",
        "mean confidence in the bin",
        "accuracy in the bin",
        "system",
    ),
    "confusion": ("confusion", "pred", "gold", "confusion matrices", "predicted label", "gold label", "system"),
    "loss": ("simple", "step", "loss", "QLoRA training and dev loss", "optimizer step", "loss", "series"),
}
# which evaluate plot folders a task kind fills (annotune/metrics/comparison.py)
KIND_CHARTS = {
    "binary": ("roc", "pr", "reliability", "confusion"),
    "multiclass": ("roc", "pr", "reliability", "confusion"),
    "multilabel": ("roc", "pr", "confusion"),
    "generation": ("confusion",),
}
# the Trainer's loss series (dvclive, metrics/train/<task>/plots/metrics): per step, and per evaluation on dev
LOSS_FILES = ("loss.tsv", "eval/loss.tsv")
METRIC_NAMES = {"macro_f1": "macro-F1", "set_f1": "set-F1", "micro_f1": "micro-F1"}
PASSTHROUGH = {"--json", "--md", "--show-vega", "--split"}


# ---- dvc.yaml's top-level plots -------------------------------------------------------------------------


def task_charts(task: str, kind: str, systems: list[str], qlora: bool) -> list[dict]:
    """The top-level plot definitions of one task: one chart per kind overlaying the systems."""
    charts = []
    for chart in (*KIND_CHARTS[kind], *(("loss",) if qlora else ())):
        template, x, y, title, x_label, y_label, _ = CHARTS[chart]
        if chart == "loss":
            sources = {f"metrics/train/{task}/plots/metrics/{name}": y for name in LOSS_FILES}
        else:
            sources = {f"metrics/plots/{task}/{chart}/{system}.json": y for system in systems}
        props = {"template": template, "x": x, "y": sources, "title": f"{task}: {title}"}
        charts.append({f"{task}/{chart}": props | {"x_label": x_label, "y_label": y_label}})
    return charts


def declared_charts(params) -> list[dict]:
    """dvc.yaml's top-level `plots:` for ``params`` (annotune.config.Params): DVC cannot loop over a params
    list there, so the section is written out; tests/test_plots_page.py checks that it matches."""
    from annotune.systems import enabled

    charts = []
    for task in params.tasks:
        systems = enabled(params.systems, task, params.distill.tasks, params.augment.tasks)
        charts += task_charts(task, params.task(task).kind, systems, "qlora" in params.systems.finetuned)
    return charts


def definitions_yaml(params) -> str:
    import io

    from ruamel.yaml import YAML

    yaml, out = YAML(), io.StringIO()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 200
    yaml.dump({"plots": declared_charts(params)}, out)
    return out.getvalue()


# ---- reading a revision's files -------------------------------------------------------------------------


class Revisions:
    """Files at DVC's revision names: "workspace", a branch, a commit or an experiment name."""

    def __init__(self, root: Path = Path(".")):
        self.root, self._shas = root, {}

    def sha(self, rev: str) -> str | None:
        if rev not in self._shas:
            try:
                from dvc.repo import Repo
                from dvc.scm import resolve_rev

                with Repo(str(self.root)) as repo:
                    self._shas[rev] = resolve_rev(repo.scm, rev)
            except Exception:  # noqa: BLE001 -- an unknown name reads as missing files, the page still renders
                self._shas[rev] = None
        return self._shas[rev]

    def read(self, rev: str, path: str) -> str | None:
        if rev == "workspace":
            file = self.root / path
            return file.read_text(encoding="utf-8") if file.is_file() else None
        sha = self.sha(rev)
        if sha is None:
            return None
        shown = subprocess.run(["git", "show", f"{sha}:{path}"], cwd=self.root, capture_output=True, text=True)
        return shown.stdout if shown.returncode == 0 else None

    def json(self, rev: str, path: str):
        text = self.read(rev, path)
        try:
            return json.loads(text) if text else None
        except ValueError:
            return None


def summary_sections(text: str | None) -> dict[str, dict]:
    """metrics/summary.md: task -> {"about": "binary; main metric: macro_f1; ...", "verdict": paragraph}."""
    sections: dict[str, dict] = {}
    if not text:
        return sections
    for block in re.split(r"^## ", text, flags=re.M)[1:]:
        heading, _, body = block.partition("\n")
        match = re.match(r"(\S+)(?:\s+\((.*)\))?\s*$", heading)
        if not match:
            continue
        paragraphs = [p.strip() for p in body.split("\n\n") if p.strip()]
        first = paragraphs[0] if paragraphs else ""
        verdict = first if first and first[0] not in "|!#" else ""
        sections[match[1]] = {"about": match[2] or "", "verdict": verdict}
    return sections


def main_metric(about: str, metrics: dict) -> str:
    """The heading's "main metric: X", else the one the task's systems report (set-F1 for generation)."""
    named = re.search(r"main metric: ([\w-]+)", about or "")
    if named:
        return named[1]
    systems = [m for s, m in metrics.items() if s != "human" and isinstance(m, dict)]
    return "set_f1" if any("set_f1" in m for m in systems) else "macro_f1"


def _percent(value) -> str:
    return "–" if not isinstance(value, int | float) else f"{100 * value:.1f}"


def _cell(metrics: dict | None, key: str) -> str:
    if not metrics or key not in metrics:
        return "–"
    low, high = metrics.get(f"{key}_ci_low"), metrics.get(f"{key}_ci_high")
    interval = f" [{_percent(low)}, {_percent(high)}]" if low is not None and high is not None else ""
    return _percent(metrics[key]) + interval


def task_table(task: str, revs: list[str], files: Revisions) -> dict:
    """One task's main-metric table: per revision, each system's main metric (95% interval)."""
    summaries = {rev: summary_sections(files.read(rev, "metrics/summary.md")).get(task, {}) for rev in revs}
    evals = {rev: files.json(rev, f"metrics/eval/{task}.json") or {} for rev in revs}
    last = revs[-1]
    about = next((summaries[r]["about"] for r in reversed(revs) if summaries[r].get("about")), "")
    key = main_metric(about, evals[last] or next((e for e in evals.values() if e), {}))
    systems: list[str] = []
    for rev in reversed(revs):  # the newest revision's ranking first, then systems only older ones have
        ranked = sorted(
            (s for s, m in evals[rev].items() if s != "human" and isinstance(m, dict)),
            key=lambda s, rev=rev: -(evals[rev][s].get(key) or 0),
        )
        systems += [s for s in ranked if s not in systems]
    rows = []
    for system in systems:
        values = [evals[rev].get(system) for rev in revs]
        cells = [_cell(v, key) for v in values]
        new, old = (values[-1] or {}).get(key), (values[0] or {}).get(key)
        change = f"{100 * (new - old):+.1f}" if len(revs) > 1 and None not in (new, old) else ""
        latest = values[-1] or {}
        note = "best baseline" if latest.get("is_best_baseline") else ""
        if not note and "p_vs_best_baseline" in latest:
            note = f"p {latest['p_vs_best_baseline']:.3f}"
        rows.append({"system": system, "cells": cells, "change": change, "note": note})
    verdicts = [(rev, summaries[rev].get("verdict", "")) for rev in revs]
    return {"task": task, "about": about, "metric": key, "revs": revs, "rows": rows, "verdicts": verdicts}


def _display(system: str) -> str:
    from annotune.systems import display_name

    return display_name(system)


def table_markdown(table: dict) -> str:
    revs, name = table["revs"], METRIC_NAMES.get(table["metric"], table["metric"])
    lines = [f"### {table['task']}: {name} (%, 95% interval)", ""]
    if not table["rows"]:
        return "\n".join([*lines, "no metrics/eval file in these revisions", ""])
    header = ["system", *revs, *(["change"] if len(revs) > 1 else []), "vs best baseline"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in table["rows"]:
        cells = [_display(row["system"]), *row["cells"], *([row["change"]] if len(revs) > 1 else []), row["note"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join([*lines, ""])


# ---- the page -------------------------------------------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval';
  style-src 'unsafe-inline'; img-src data: blob:; font-src data:">
<title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
nav a {{ margin-right: 1em; }}
section.task {{ border-top: 2px solid #ccc; margin-top: 1.5em; }}
table.metric {{ border-collapse: collapse; margin: .5em 0 1em; }}
table.metric td, table.metric th {{ border: 1px solid #ccc; padding: 2px 8px; text-align: right; }}
table.metric td:first-child, table.metric th:first-child {{ text-align: left; }}
.verdict {{ max-width: 70em; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }}
.chart {{ min-width: 200px; min-height: 100px; }}
.missing {{ color: #777; font-size: 85%; max-width: 40em; }}
.failed {{ color: #b00; }}
</style>
<script>
window.chartErrors = [];
window.addEventListener("error", function (e) {{ window.chartErrors.push(String(e.message)); }});
</script>
<script>{bundle}</script>
</head>
<body>
<h1>{title}</h1>
<p>{intro} <span id="status">rendering {count} charts…</span></p>
<nav>{nav}</nav>
{sections}
<script>
const specs = {specs};
const rendered = Object.entries(specs).map(function ([id, spec]) {{
  const element = document.getElementById(id);
  return vegaEmbed(element, spec, {{renderer: "svg", actions: {{export: true, source: true, compiled: false,
                                    editor: false}}}})
    .then(function () {{ element.dataset.rendered = "yes"; }})
    .catch(function (error) {{
      element.dataset.rendered = "failed";
      element.className += " failed";
      element.textContent = "chart failed: " + error;
      window.chartErrors.push(id + ": " + error);
    }});
}});
Promise.allSettled(rendered).then(function () {{
  const failed = window.chartErrors.length;
  const status = document.getElementById("status");
  status.textContent = failed ? failed + " error(s): " + window.chartErrors.join("; ") :
                                rendered.length + " charts rendered.";
  document.body.dataset.done = failed ? "errors" : "yes";
}});
</script>
</body>
</html>
"""


def _inline_markdown(text: str) -> str:
    text = html.escape(text, quote=False)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"(?<![\w*])\*(?!\s)(.+?)\*(?!\w)", r"<em>\1</em>", text)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)


def _recolor(node, field: str, legend: str):
    """Color by ``field`` where DVC colors by revision (only one revision here: every line was one color)."""
    if isinstance(node, list):
        return [_recolor(item, field, legend) for item in node]
    if not isinstance(node, dict):
        return node
    result = {}
    for key, value in node.items():
        if key == "color" and isinstance(value, dict) and value.get("field") == "rev":
            result[key] = {"field": field, "type": "nominal", "sort": [], "legend": {"title": legend}}
        elif key == "strokeDash" and isinstance(value, dict) and value.get("field") == field:
            continue
        else:
            result[key] = _recolor(value, field, legend)
    return result


def single_revision_spec(spec: dict, chart: str) -> dict:
    """DVC's spec, easier to read when there is one revision: a line color per system (DVC gives each
    revision a color and each file a dash pattern), confusion matrices three in a row (DVC: one per row)."""
    legend = CHARTS.get(chart, (None,) * 7)[6] or "source"
    facet = spec.get("facet")
    if isinstance(facet, dict) and facet.get("row", {}).get("field") == "filename":
        spec = json.loads(json.dumps(spec))
        spec["facet"] = {"field": "filename", "type": "nominal", "sort": [], "title": None}
        spec["columns"] = 3
        for layer in spec.get("spec", {}).get("layer", []):  # 180 px matrices, three in a row
            for size in ("width", "height"):
                if isinstance(layer.get(size), int):
                    layer[size] = 180
        for param in spec.get("params", []):  # the counts in the cells, shown (DVC: a checkbox, off)
            if param.get("name") == "showValues":
                param["value"] = True
        return spec
    if spec.get("encoding", {}).get("strokeDash", {}).get("field") == "filename":
        return _recolor(spec, "filename", legend)
    return spec


def _chart_kind(chart_id: str) -> tuple[str | None, str]:
    task, slash, chart = chart_id.partition("/")
    return (task, chart) if slash and chart in CHARTS else (None, chart_id)


def _dom_id(chart_id: str) -> str:
    return "chart-" + re.sub(r"[^A-Za-z0-9_-]", "_", chart_id)


def group_charts(data: dict) -> tuple[dict[str, list[str]], list[str]]:
    """task -> its chart ids in CHARTS order (first appearance of each task), and the other charts."""
    tasks: dict[str, list[str]] = {}
    others = []
    for chart_id in data:
        task, chart = _chart_kind(chart_id)
        if task is None:
            others.append(chart_id)
        else:
            tasks.setdefault(task, []).append(chart_id)
    order = list(CHARTS)
    return {t: sorted(ids, key=lambda i: order.index(_chart_kind(i)[1])) for t, ids in tasks.items()}, others


def _revisions(data: dict) -> list[str]:
    revs: list[str] = []
    for renderers in data.values():
        for renderer in renderers:
            revs += [r for r in renderer.get("revisions", []) if r not in revs]
    # old to new: DVC lists the workspace first; the change column is the last revision minus the first
    return sorted(revs, key=lambda rev: rev == "workspace") or ["workspace"]


def _missing_note(errors: list[dict]) -> str:
    if not errors:
        return ""
    by_rev: dict[str, list[str]] = {}
    for error in errors:
        by_rev.setdefault(error.get("rev", "?"), []).append(Path(error.get("source") or error.get("name", "")).name)
    text = "; ".join(f"{rev}: {', '.join(sorted(set(names)))}" for rev, names in by_rev.items())
    return f'<p class="missing">not in this revision (that system did not run): {html.escape(text)}</p>'


def table_html(table: dict) -> str:
    revs, name = table["revs"], METRIC_NAMES.get(table["metric"], table["metric"])
    parts = []
    verdicts = [(rev, v) for rev, v in table["verdicts"] if v]
    if len({v for _, v in verdicts}) == 1:
        verdicts = verdicts[-1:]
    for rev, verdict in verdicts:
        label = f"<em>{html.escape(rev)}:</em> " if len(verdicts) > 1 else ""
        parts.append(f'<p class="verdict">{label}{_inline_markdown(verdict)}</p>')
    if not verdicts:
        parts.append('<p class="verdict missing">no verdict: metrics/summary.md has no section for this task</p>')
    if not table["rows"]:
        parts.append(f'<p class="missing">no main-metric table: metrics/eval/{table["task"]}.json is absent</p>')
        return "\n".join(parts)
    columns = [f"{name} {html.escape(r)}" for r in revs] if len(revs) > 1 else [f"{name} (%, 95% CI)"]
    heads = ["system", *columns]
    heads += [*(["change"] if len(revs) > 1 else []), "vs best baseline"]
    rows = ["<tr>" + "".join(f"<th>{h}</th>" for h in heads) + "</tr>"]
    for row in table["rows"]:
        cells = [_display(row["system"]), *row["cells"], *([row["change"]] if len(revs) > 1 else []), row["note"]]
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    parts.append(f'<table class="metric">{"".join(rows)}</table>')
    return "\n".join(parts)


def build_page(data: dict, errors: list[dict], tables: dict[str, dict], bundle: str, command: str) -> str:
    """The page from `dvc plots show|diff --json` output (``data``: chart id -> renderers, ``errors``) and
    each task's table (task_table)."""
    grouped, others = group_charts(data)
    for task in tables:
        grouped.setdefault(task, [])
    revs = _revisions(data)
    errors_by_chart: dict[str, list[dict]] = {}
    for error in errors:
        errors_by_chart.setdefault(error.get("name", ""), []).append(error)
    specs: dict[str, dict] = {}

    def chart_div(chart_id: str) -> str:
        vega = [r for r in data.get(chart_id, []) if r.get("type") == "vega" and r.get("content")]
        note = _missing_note(errors_by_chart.get(chart_id, []))
        if not vega:
            return f'<div class="chart missing">{html.escape(chart_id)}: no data in these revisions{note}</div>'
        spec = vega[0]["content"]
        if len(vega[0].get("revisions", revs)) <= 1:
            spec = single_revision_spec(spec, _chart_kind(chart_id)[1])
        dom_id = _dom_id(chart_id)
        specs[dom_id] = spec
        return f'<div><div class="chart" id="{dom_id}" data-chart="{html.escape(chart_id)}"></div>{note}</div>'

    sections, nav = [], []
    for task, ids in grouped.items():
        table = tables.get(task) or {"task": task, "about": "", "metric": "", "revs": revs, "rows": [], "verdicts": []}
        about = f" <small>({html.escape(table['about'])})</small>" if table["about"] else ""
        charts = "".join(chart_div(i) for i in ids) or '<p class="missing">no chart declared for this task</p>'
        sections.append(
            f'<section class="task" id="task-{html.escape(task)}"><h2>{html.escape(task)}{about}</h2>\n'
            f'{table_html(table)}\n<div class="charts">{charts}</div></section>'
        )
        nav.append(f'<a href="#task-{html.escape(task)}">{html.escape(task)}</a>')
    if others:
        charts = "".join(chart_div(i) for i in others)
        sections.append(
            f'<section class="task" id="other"><h2>other charts</h2><div class="charts">{charts}</div></section>'
        )
        nav.append('<a href="#other">other charts</a>')
    title = "annotune plots: " + ("workspace" if revs == ["workspace"] else " vs ".join(revs))
    intro = (
        f"<code>{html.escape(command)}</code> &middot; revisions: {html.escape(', '.join(revs))} &middot; per task: "
        "the verdict (metrics/summary.md), the main metric per system (metrics/eval/&lt;task&gt;.json), "
        "then the charts dvc.yaml declares."
    )
    script_json = json.dumps(specs, separators=(",", ":")).replace("</", "<\\/")
    return PAGE.format(
        title=html.escape(title),
        intro=intro,
        count=len(specs),
        nav="".join(nav),
        sections="\n".join(sections),
        specs=script_json,
        bundle=bundle.replace("</script", "<\\/script"),
    )


def vega_bundle() -> str:
    """Vega, Vega-Lite and Vega-Embed as one script (window.vegaEmbed), cached in DVC's scratch folder."""
    import vl_convert

    path = Path(".dvc") / "tmp" / f"vega_bundle_vl{VEGA_LITE_VERSION}_{vl_convert.__version__}.js"
    if path.exists():
        return path.read_text(encoding="utf-8")
    bundle = vl_convert.javascript_bundle(vl_version=VEGA_LITE_VERSION)
    if path.parent.is_dir():
        path.write_text(bundle, encoding="utf-8")
    return bundle


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
    revs, files = _revisions(data), Revisions()
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
