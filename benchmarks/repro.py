"""Wall time of ``dvc repro``: a no-op (everything up to date) and, behind a flag, the whole default
pipeline from scratch. Both run in a temporary clone of the repository's HEAD, never in the working
copy (whose dvc.lock a repro would rewrite)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, summary


def _run(cmd: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(
            f"{' '.join(cmd)} failed in {cwd} ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return done


def _env() -> dict:
    return {**os.environ, "DVC_NO_ANALYTICS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def _clone(tmp: Path) -> Path:
    clone = tmp / "annotune"
    _run(["git", "clone", "--quiet", str(ROOT), str(clone)], tmp, _env())
    return clone


CHEAP_STAGES = ("evaluate", "report")  # a stale one of these may be brought up to date before timing


def _stale_stages(checkout: Path, env: dict) -> list[str]:
    status = subprocess.run(["dvc", "status", "--json"], cwd=checkout, env=env, capture_output=True, text=True)
    if status.returncode:
        raise RuntimeError(f"dvc status failed in {checkout}:\n{status.stderr[-2000:]}")
    return [name for name in json.loads(status.stdout or "{}") if not name.endswith(".dvc")]


def _time_noop(checkout: Path, env: dict, repeats: int) -> dict:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        done = _run(["dvc", "repro"], checkout, env)
        times.append(time.perf_counter() - start)
        if "Running stage" in done.stdout or "run-cache" in done.stdout:
            raise RuntimeError(f"a no-op dvc repro ran a stage:\n{done.stdout[-2000:]}")
    return {"seconds": summary(times)}


def bench_noop(repeats: int, checkout: Path | None = None) -> dict:
    """Time ``dvc repro`` with nothing to do, ``repeats`` times.

    ``checkout``: an existing checkout that is up to date (refused otherwise, so nothing ever runs
    there). By default: a temporary clone of HEAD with its DVC outputs linked from this repository's
    cache; where HEAD's dvc.lock is stale only in evaluate / report stages, one ``dvc repro`` brings it
    up to date first (results go to the shared cache); staler than that, the measurement is skipped
    with the reason, rather than retraining models inside a benchmark.
    """
    env = _env()
    if checkout is not None:
        stale = _stale_stages(checkout, env)
        if stale:
            raise RuntimeError(f"{checkout} is not up to date ({', '.join(stale[:8])}): a repro would run stages")
        return {**_time_noop(checkout, env, repeats), "where": str(checkout)}
    cache = ROOT / ".dvc" / "cache"
    with tempfile.TemporaryDirectory(prefix="annotune-noop-") as tmp:
        clone = _clone(Path(tmp))
        _run(["dvc", "config", "--local", "cache.dir", str(cache)], clone, env)
        _run(["dvc", "config", "--local", "cache.type", "hardlink,symlink,copy"], clone, env)
        subprocess.run(["dvc", "checkout", "--quiet"], cwd=clone, env=env, capture_output=True, text=True)
        stale = _stale_stages(clone, env)
        expensive = [name for name in stale if not name.startswith(CHEAP_STAGES)]
        if expensive:
            return {
                "skipped": f"HEAD's dvc.lock is stale in stages that train or predict ({', '.join(expensive[:6])}"
                f"{', ...' if len(expensive) > 6 else ''}); pass an up-to-date checkout with --noop-dir"
            }
        start = time.perf_counter()
        first = _run(["dvc", "repro"], clone, env) if stale else None
        catch_up = {"seconds": time.perf_counter() - start, "stages": stale} if first else None
        return {
            **_time_noop(clone, env, repeats),
            "where": "temporary clone of HEAD, outputs linked from the DVC cache",
            "catch_up_before_timing": catch_up,
        }


def bench_full(data_dir: str | None) -> dict:
    """The whole default pipeline from scratch (``dvc repro`` in a fresh clone with its own empty cache,
    so nothing is restored from a run cache). Tens of minutes on a 2-core CPU."""
    env = _env()
    if data_dir:
        env["ANNOTUNE_DATA_DIR"] = data_dir
    with tempfile.TemporaryDirectory(prefix="annotune-full-") as tmp:
        clone = _clone(Path(tmp))
        shutil.rmtree(clone / "models", ignore_errors=True)
        start = time.perf_counter()
        _run(["dvc", "repro", "--force"], clone, env)
        seconds = time.perf_counter() - start
        start = time.perf_counter()
        _run(["dvc", "repro"], clone, env)
        noop = time.perf_counter() - start
    return {"seconds": seconds, "noop_after_seconds": noop, "where": "fresh temporary clone, empty cache"}
