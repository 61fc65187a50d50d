"""`dvc plots show` / `dvc plots diff` as an HTML page that renders without internet.

DVC's page loads Vega, Vega-Lite and Vega-Embed from a CDN. This wraps the same command with an HTML
template that carries those libraries inline (bundled offline by the vl-convert-python wheel), so the
page opens on an air-gapped machine, in CI artefacts or in an archived review:

    annotune plots diff main            # workspace vs main -> dvc_plots/index.html
    annotune plots show -o review/plots
    annotune plots diff exp-a exp-b     # any arguments of `dvc plots diff`
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# The Vega-Lite major version of DVC's built-in templates ($schema .../vega-lite/v5.json).
VEGA_LITE_VERSION = "5.21"

PAGE = """<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8">
  {refresh_tag}
  <title>annotune plots</title>
  <script>__BUNDLE__</script>
  <style>table { border-spacing: 15px; }</style>
</head>
<body>
  {plot_divs}
</body>
</html>
"""


def template_text() -> str:
    """DVC's page with the JavaScript inline; no {scripts} placeholder, so no CDN tag is added."""
    import vl_convert

    return PAGE.replace("__BUNDLE__", vl_convert.javascript_bundle(vl_version=VEGA_LITE_VERSION))


def ensure_template(folder: Path) -> Path:
    """The template file, written once per vl-convert version (the bundle takes a second to build)."""
    import vl_convert

    path = folder / f"offline_plots_vl{VEGA_LITE_VERSION}_{vl_convert.__version__}.html"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(template_text(), encoding="utf-8")
    return path


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("show", "diff"):
        print(__doc__, file=sys.stderr)
        return 2
    template = ensure_template(Path(".dvc") / "tmp")  # .dvc/tmp is DVC's own git-ignored scratch folder
    command = [sys.executable, "-m", "dvc", "plots", argv[0], "--html-template", str(template.resolve()), *argv[1:]]
    return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
