"""The review page itself: `dvc plots show|diff --json` output and the tasks' tables as one HTML file that
renders without internet (``annotune plots show|diff``; the command is annotune/evaluation/offline_plots.py).

``PAGE`` is the template; ``build_page`` fills it per task with the verdict and table
(annotune/evaluation/plots_tables.py)
above the task's charts in ``CHARTS`` order (annotune/evaluation/dvc_sections.py); ``single_revision_spec`` recolours
DVC's one-revision specs by system; ``vega_bundle`` inlines Vega, Vega-Lite and Vega-Embed from vl-convert.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from annotune.evaluation.dvc_sections import CHARTS
from annotune.evaluation.plots_tables import table_html

# The Vega-Lite major version of DVC's built-in templates ($schema .../vega-lite/v5.json).
VEGA_LITE_VERSION = "5.21"


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


def chart_revisions(data: dict) -> list[str]:
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


def build_page(data: dict, errors: list[dict], tables: dict[str, dict], bundle: str, command: str) -> str:
    """The page from `dvc plots show|diff --json` output (``data``: chart id -> renderers, ``errors``) and
    each task's table (task_table)."""
    grouped, others = group_charts(data)
    for task in tables:
        grouped.setdefault(task, [])
    revs = chart_revisions(data)
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
