"""The review page's metric tables (``annotune plots``): each task's main metric per system and revision.

``Revisions`` reads a file at a DVC revision name (the workspace, a branch, a commit, an experiment);
``summary_sections`` parses metrics/summary.md into each task's heading and verdict; ``task_table`` builds one
task's table from metrics/eval/<task>.json at each revision (95% intervals, the change from the first revision
to the last, the comparison with the best baseline); ``table_markdown`` and ``table_html`` render it
(``annotune plots tables``, and the page of annotune/evaluation/plots_page.py).
"""

from __future__ import annotations

import html
import json
import re
import subprocess
from pathlib import Path

from annotune.data import paths

METRIC_NAMES = {"macro_f1": "macro-F1", "set_f1": "set-F1", "micro_f1": "micro-F1"}


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
    summaries = {rev: summary_sections(files.read(rev, paths.SUMMARY.as_posix())).get(task, {}) for rev in revs}
    evals = {rev: files.json(rev, paths.eval_file(task).as_posix()) or {} for rev in revs}
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


def _inline_markdown(text: str) -> str:
    text = html.escape(text, quote=False)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"(?<![\w*])\*(?!\s)(.+?)\*(?!\w)", r"<em>\1</em>", text)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)


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
