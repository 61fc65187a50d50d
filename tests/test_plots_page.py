"""The review page (annotune/evaluation/offline_plots.py and its dvc_sections, plots_tables, plots_page modules):
dvc.yaml's
top-level charts, the page generator, and the page rendered by a real headless Chromium with the network off
(skipped where chromium is not installed)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from annotune.config import load_params
from annotune.evaluation import dvc_sections, plots_page, plots_tables

ROOT = Path(__file__).resolve().parents[1]


def dvc_yaml() -> dict:
    return YAML(typ="safe").load((ROOT / "dvc.yaml").read_text())


# ---- dvc.yaml ------------------------------------------------------------------------------------------


def test_dvc_yaml_declares_the_charts_params_yaml_asks_for():
    """DVC cannot loop over params lists in top-level plots: the written-out section must follow params.yaml."""
    declared = dvc_yaml()["plots"]
    expected = dvc_sections.declared_charts(load_params(ROOT / "params.yaml"))
    assert declared == json.loads(json.dumps(expected)), "dvc.yaml's plots: differ; `annotune plots definitions`"
    for chart in declared:
        ((chart_id, props),) = chart.items()
        assert props["title"] and props["x_label"] and props["y_label"], chart_id
        assert not any(re.search(r"runtime|per_second|flos|grad_norm|learning_rate|epoch", s) for s in props["y"])


def test_only_the_top_level_charts_are_plots():
    """The stages declare no plots (their folders are plain outputs), so `dvc plots show` lists only the charts."""
    for name, stage in dvc_yaml()["stages"].items():
        body = stage.get("do", stage)
        assert "plots" not in body, f"stage {name} declares plots"
    evaluate = dvc_yaml()["stages"]["evaluate"]["do"]["outs"]
    folders = {next(iter(o)) if isinstance(o, dict) else o for o in evaluate}
    assert {f"metrics/plots/${{item}}/{k}" for k in ("roc", "pr", "reliability", "confusion", "coverage")} <= folders


def test_task_charts_follow_the_task_kind():
    ids = [next(iter(c)) for c in dvc_sections.task_charts("t", "generation", ["a", "b"], qlora=True)]
    assert ids == ["t/confusion", "t/loss"]
    roc = dvc_sections.task_charts("t", "binary", ["a", "b"], qlora=False)[0]["t/roc"]
    assert roc["y"] == {"metrics/plots/t/roc/a.json": "tpr", "metrics/plots/t/roc/b.json": "tpr"}
    multilabel = dvc_sections.task_charts("t", "multilabel", ["a"], qlora=False)
    assert [next(iter(c)) for c in multilabel] == ["t/roc", "t/pr", "t/confusion"]


# ---- the page generator (no DVC, no browser) ------------------------------------------------------------

SUMMARY = """# annotune report: sbic

Scores in % ...

## t1 (binary; main metric: macro_f1; 10 test rows)

**Verdict:** no system can replace the annotators yet: `x` < y & *z*.

| system | accuracy |
|---|---|

## t2

| system | set-F1 |
"""


def line_spec(title: str, revs=("workspace",)) -> dict:
    return {
        "title": {"text": title},
        "data": {"values": [{"x": 0, "y": 1, "rev": revs[0], "filename": "a.json"}]},
        "encoding": {
            "color": {"field": "rev", "scale": {"domain": list(revs)}},
            "strokeDash": {"field": "filename", "scale": {"domain": ["a.json", "b.json"]}},
        },
        "layer": [{"mark": "line", "encoding": {"color": {"field": "rev", "type": "nominal"}}}],
    }


def confusion_spec() -> dict:
    return {
        "facet": {"column": {"field": "rev", "sort": []}, "row": {"field": "filename", "sort": []}},
        "params": [{"name": "showValues", "bind": {"input": "checkbox"}}],
        "spec": {"layer": [{"mark": "rect", "width": 300, "height": 300}]},
    }


def renderers(spec: dict, revs=("workspace",)) -> list[dict]:
    return [{"type": "vega", "revisions": list(revs), "content": spec}]


def write_metrics(root: Path) -> None:
    (root / "metrics" / "eval").mkdir(parents=True)
    (root / "metrics" / "summary.md").write_text(SUMMARY)
    t1 = {
        "human": {"posts": 3},
        "qlora": {"macro_f1": 0.61, "macro_f1_ci_low": 0.5, "macro_f1_ci_high": 0.7, "p_vs_best_baseline": 0.0421},
        "majority": {"macro_f1": 0.38, "is_best_baseline": 1.0},
        "encoder": {"macro_f1": 0.79, "macro_f1_ci_low": 0.74, "macro_f1_ci_high": 0.84},
    }
    (root / "metrics" / "eval" / "t1.json").write_text(json.dumps(t1))
    (root / "metrics" / "eval" / "t2.json").write_text(json.dumps({"qlora": {"set_f1": 0.5}}))


def test_page_puts_each_tasks_verdict_and_table_above_its_charts_in_order(tmp_path):
    write_metrics(tmp_path)
    data = {  # DVC's order scrambled: the page orders by CHARTS, tasks by first appearance
        "t1/loss": renderers(line_spec("loss")),
        "t1/confusion": renderers(confusion_spec()),
        "t1/roc": renderers(line_spec("roc")),
        "t2/confusion": renderers(confusion_spec()),
        "metrics/plots/old/roc/a.json": renderers(line_spec("a stage plot of an older revision")),
        "t2/loss": [],
    }
    errors = [{"name": "t1/roc", "rev": "workspace", "source": "metrics/plots/t1/roc/b.json", "type": "FileNotFound"}]
    files = plots_tables.Revisions(tmp_path)
    tables = {task: plots_tables.task_table(task, ["workspace"], files) for task in ("t1", "t2")}
    page = plots_page.build_page(data, errors, tables, "/* bundle */", "annotune plots show")

    order = [
        'id="task-t1"',
        "<strong>Verdict:</strong>",
        "<code>x</code> &lt; y &amp; <em>z</em>",
        "macro-F1 (%, 95% CI)",
        "encoder fine-tuned",
        "QLoRA fine-tuned LLM",
        "majority class",
        'data-chart="t1/roc"',
        "not in this revision",
        "b.json",
        'data-chart="t1/confusion"',
        'data-chart="t1/loss"',
        'id="task-t2"',
        "no verdict",
        'data-chart="t2/confusion"',
        "t2/loss: no data",
        'id="other"',
        'data-chart="metrics/plots/old/roc/a.json"',
    ]
    positions = [page.find(text) for text in order]
    assert -1 not in positions, [t for t, p in zip(order, positions, strict=True) if p < 0]
    assert positions == sorted(positions)
    assert "79.0 [74.0, 84.0]" in page and "p 0.042" in page and "best baseline" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)  # nothing loads from elsewhere
    specs = json.loads(re.search(r"const specs = (\{.*?\});\n", page, re.S)[1])
    assert list(specs) == [
        "chart-t1_roc",
        "chart-t1_confusion",
        "chart-t1_loss",
        "chart-t2_confusion",
        "chart-metrics_plots_old_roc_a_json",
    ]
    roc = specs["chart-t1_roc"]  # one revision: a color per system instead of one color and nine dash patterns
    assert roc["encoding"]["color"]["field"] == "filename" and "strokeDash" not in roc["encoding"]
    assert roc["layer"][0]["encoding"]["color"]["field"] == "filename"
    confusion = specs["chart-t1_confusion"]
    assert confusion["columns"] == 3 and confusion["facet"]["field"] == "filename"
    assert confusion["spec"]["layer"][0]["width"] == 180 and confusion["params"][0]["value"] is True


def test_diff_page_keeps_dvcs_overlay_and_tables_compare_revisions(tmp_path):
    write_metrics(tmp_path)
    files = plots_tables.Revisions(tmp_path)
    files.sha = lambda rev: None  # "main" has no files here: its column reads "–"
    revs = plots_page.chart_revisions(
        {"t1/roc": renderers(line_spec("roc", ("workspace", "main")), ("workspace", "main"))}
    )
    assert revs == ["main", "workspace"]  # old to new
    table = plots_tables.task_table("t1", revs, files)
    assert [row["system"] for row in table["rows"]] == ["encoder", "qlora", "majority"]
    assert table["rows"][0]["cells"] == ["–", "79.0 [74.0, 84.0]"]
    spec = line_spec("roc", ("main", "workspace"))
    page = plots_page.build_page({"t1/roc": renderers(spec, revs)}, [], {"t1": table}, "", "annotune plots diff main")
    shown = json.loads(re.search(r"const specs = (\{.*?\});\n", page, re.S)[1])["chart-t1_roc"]
    assert shown == spec  # several revisions: DVC's spec as it is (a color per revision)
    assert "macro-F1 main" in page and "macro-F1 workspace" in page
    markdown = plots_tables.table_markdown(table)
    assert "| system | main | workspace | change | vs best baseline |" in markdown
    assert "| encoder fine-tuned | – | 79.0 [74.0, 84.0] |  |  |" in markdown


def test_summary_sections_and_main_metric():
    sections = plots_tables.summary_sections(SUMMARY)
    assert sections["t1"]["about"].startswith("binary") and sections["t1"]["verdict"].startswith("**Verdict:**")
    assert sections["t2"] == {"about": "", "verdict": ""}
    assert plots_tables.summary_sections(None) == {}
    assert plots_tables.main_metric("", {"qlora": {"set_f1": 0.5}}) == "set_f1"
    assert plots_tables.main_metric("multilabel; main metric: micro_f1", {}) == "micro_f1"


# ---- the real thing: DVC on the committed metrics, the page in Chromium ---------------------------------


def run(cmd: list[str], cwd: Path) -> str:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": path}
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(cmd)}:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict:
    """A git + DVC repository with this project's dvc.yaml, params.yaml and committed results; the page of
    `annotune plots show`, and of `annotune plots diff HEAD` after a change to one system's results."""
    repo = tmp_path_factory.mktemp("plots") / "repo"
    repo.mkdir()
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(ROOT / name, repo / name)
    results = ["metrics/eval", "metrics/plots", "metrics/train", "metrics/summary.md"]
    # the committed results (what CI checks out), not files a running `dvc repro` may be rewriting
    archive = subprocess.run(["git", "archive", "HEAD", *results], cwd=ROOT, capture_output=True)
    if archive.returncode == 0:
        subprocess.run(["tar", "-x", "-C", str(repo)], input=archive.stdout, check=True)
    else:  # not a git checkout: the files as they are
        for path in results:
            (shutil.copytree if (ROOT / path).is_dir() else shutil.copy)(ROOT / path, repo / path)
    dvc = [sys.executable, "-m", "dvc"]
    run(["git", "init", "-q"], repo)
    run([*dvc, "init", "-q"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-qm", "results"], repo)
    started = time.monotonic()
    shown = json.loads(run([*dvc, "plots", "show", "--json"], repo))
    page = [sys.executable, "-m", "annotune.evaluation.offline_plots"]
    run([*page, "show", "-o", "show"], repo)
    eval_file = repo / "metrics" / "eval" / "hasBiasedImplication.json"
    metrics = json.loads(eval_file.read_text())
    metrics["qlora"]["macro_f1"] += 0.05
    eval_file.write_text(json.dumps(metrics))
    roc = repo / "metrics" / "plots" / "hasBiasedImplication" / "roc" / "qlora.json"
    roc.write_text(json.dumps([{**row, "tpr": min(1.0, row["tpr"] + 0.05)} for row in json.loads(roc.read_text())]))
    run([*page, "diff", "HEAD", "-o", "diff"], repo)
    print(f"dvc plots show --json and two pages: {time.monotonic() - started:.1f} s")
    return {"repo": repo, "json": shown, "show": repo / "show" / "index.html", "diff": repo / "diff" / "index.html"}


def declared_ids() -> list[str]:
    return [next(iter(chart)) for chart in dvc_yaml()["plots"]]


@pytest.mark.slow  # a DVC repository and headless Chromium
def test_dvc_plots_show_lists_exactly_the_declared_charts(pages):
    assert list(pages["json"]["data"]) == declared_ids()
    assert not pages["json"].get("errors")  # every declared file is committed
    page = pages["show"].read_text()
    assert "<script src=" not in page and "window.vegaEmbed=" in page
    assert all(f'data-chart="{chart_id}"' in page for chart_id in declared_ids())


class RecordingProxy:
    """An HTTP proxy on 127.0.0.1 that forwards nothing: it records each request and answers 403."""

    def __init__(self):
        self.requests: list[str] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(2)
                try:
                    self.requests.append(connection.recv(4096).decode("latin-1").split("\r\n")[0])
                    connection.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass

    def close(self):
        self.server.close()


# Chromium's own service calls at startup, whatever the page (seen with Debian's chromium 150-156 even with
# --disable-background-networking / --disable-component-update): the component updater and the Google account
# check. They reach the recording proxy and no further; any other request fails the test.
BROWSER_SERVICES = {
    ("CONNECT", "update.googleapis.com:443"),
    ("POST", "http://update.googleapis.com/service/update2/json"),
    ("CONNECT", "accounts.google.com:443"),
    ("GET", "http://clients2.google.com/time/1/current"),
}


def page_requests(requests: list[str]) -> list[str]:
    """The proxied request lines ("METHOD target HTTP/1.1") that are not Chromium's own service calls."""

    def call(line: str) -> tuple[str, str]:
        method, _, rest = line.partition(" ")
        return method, rest.split(" ")[0].split("?")[0]

    return [line for line in requests if call(line) not in BROWSER_SERVICES]


def chromium() -> str | None:
    return os.environ.get("ANNOTUNE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def dump_dom(browser: str, page: Path, profile: Path, proxy: RecordingProxy) -> str:
    """The page's DOM once its scripts ran, every request sent to the recording proxy and no name resolving."""
    command = [
        browser,
        "--headless",
        "--disable-gpu",
        "--no-sandbox",
        f"--user-data-dir={profile}",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
        "--disable-features=NetworkTimeServiceQuerying",
        f"--proxy-server=http://127.0.0.1:{proxy.port}",
        "--proxy-bypass-list=<-loopback>",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--virtual-time-budget=30000",
        "--dump-dom",
        page.as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


needs_chromium = pytest.mark.skipif(
    chromium() is None, reason="chromium is not installed (apt-get install -y chromium; .ci/run installs it)"
)


@needs_chromium
@pytest.mark.parametrize("which", ["show", "diff"])
@pytest.mark.slow  # a DVC repository and headless Chromium
def test_every_declared_chart_renders_in_chromium_offline(pages, which, tmp_path):
    proxy = RecordingProxy()
    try:
        started = time.monotonic()
        dom = dump_dom(chromium(), pages[which], tmp_path / "profile", proxy)
        print(f"chromium, {which} page: {time.monotonic() - started:.1f} s")
    finally:
        proxy.close()
    assert page_requests(proxy.requests) == []  # the page sent no request (none could leave the machine)
    assert 'data-done="yes"' in dom, re.search(r'<span id="status">([^<]*)', dom)[1]
    for chart_id in declared_ids():
        opening = rf'<div class="chart[^"]*" id="[^"]+" data-chart="{re.escape(chart_id)}"'
        match = re.search(opening + "(.*?)</svg>", dom, re.S)
        assert match and 'data-rendered="yes"' in match[0] and "<svg" in match[1], f"{which}: {chart_id} did not render"
    rendered = re.findall(r'data-rendered="(\w+)"', dom)
    assert rendered == ["yes"] * len(declared_ids())
    first_task, first_chart = (
        dom.index('id="task-hasBiasedImplication"'),
        dom.index('data-chart="hasBiasedImplication/roc"'),
    )
    assert first_task < dom.index("Verdict:") < dom.index('class="metric"') < first_chart
    if which == "diff":
        assert "+5.0" in dom and "macro-F1 HEAD" in dom  # the changed system's main metric, old to new


@needs_chromium
@pytest.mark.slow  # a DVC repository and headless Chromium
def test_the_offline_check_would_see_a_request(tmp_path):
    """The check above is not vacuous: a page that loads a remote script is caught by the proxy."""
    page = tmp_path / "remote.html"
    page.write_text('<html><body><script src="http://cdn.example.com/vega.js"></script><p>x</p></body></html>')
    proxy = RecordingProxy()
    try:
        dump_dom(chromium(), page, tmp_path / "profile", proxy)
    finally:
        proxy.close()
    assert any("cdn.example.com" in request for request in page_requests(proxy.requests)), proxy.requests
