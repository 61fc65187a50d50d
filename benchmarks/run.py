"""Run the benchmark suite, print a table and write JSON (issue #8).

    python -m benchmarks.run                 # default: ~20 min on a 2-core CPU (the training stage at full size)
    python -m benchmarks.run --quick         # smoke check: every measurement once, tiny sizes
    python -m benchmarks.run --repeats 5 --out benchmarks/results.json
    python -m benchmarks.run --only scoring memory
    python -m benchmarks.run --full-repro    # adds the whole default `dvc repro` from scratch (tens of minutes)
    python -m benchmarks.run --only peers    # annotune vs TRL's SFTTrainer and SetFit (requirements-peers.txt)
    python -m benchmarks.run --only threads  # 1 vs 2 processes side by side: all cores each vs shared (quiet machine)

Needs the pipeline's outputs in the working copy (models/base/llm, models/qlora/<task>,
data/instruct/<task>); measures on the default models. Ratios are the figures to read: the machine may
be shared, so both sides of a ratio run interleaved in the same process, and the load average is
recorded before and after.
"""

from __future__ import annotations

import os

os.environ.setdefault("TQDM_DISABLE", "1")  # before tqdm is imported: progress bars would drown the table

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import ROOT, machine, summary
from benchmarks.peers import PEER_PAIRS

SECTIONS = ("train", "stage", "scoring", "memory", "noop")  # the default run
OPTIONAL_SECTIONS = ("peers", "threads")  # only with --only: peers needs requirements-peers.txt; threads, quiet


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise SystemExit(f"benchmarks: {path} not found ({what}); run `dvc repro` (or `dvc pull`) first")
    return path


def memory_section(base: Path, adapter: Path, data: Path, params, quick: bool, repeats: int) -> dict:
    worker_params = json.dumps(
        {
            "dataset": params.dataset,
            "qlora": dataclasses.asdict(params.qlora),
            "predict_batch_size": params.predict.batch_size,
        }
    )
    runs: dict[str, list[dict]] = {}
    for _ in range(repeats):
        for mode in ("train", "predict"):
            for quantization in ("none", "nf4"):
                cmd = [sys.executable, "-m", "benchmarks.memory", mode, quantization, "--base", str(base)]
                cmd += ["--data", str(data), "--adapter", str(adapter), "--params", worker_params]
                cmd += ["--steps", "1", "--batch-size", "2", "--rows", "4"] if quick else []
                done = subprocess.run(
                    cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "TQDM_DISABLE": "1"}
                )
                if done.returncode:
                    raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
                runs.setdefault(f"{mode}/{quantization}", []).append(json.loads(done.stdout.strip().splitlines()[-1]))
    out = {}
    for mode in ("train", "predict"):
        fp32, nf4 = runs[f"{mode}/none"], runs[f"{mode}/nf4"]
        out[mode] = {
            "fp32_peak_mb": summary([r["peak_rss_mb"] for r in fp32]),
            "nf4_peak_mb": summary([r["peak_rss_mb"] for r in nf4]),
            "after_imports_mb": summary([r["after_imports_mb"] for r in fp32 + nf4]),
            "ratio_peak": summary([b["peak_rss_mb"] / a["peak_rss_mb"] for a, b in zip(fp32, nf4, strict=True)]),
            "loaded_mb": {"fp32": [r["loaded_mb"] for r in fp32], "nf4": [r["loaded_mb"] for r in nf4]},
            "load_peak_mb": {"fp32": [r["load_peak_mb"] for r in fp32], "nf4": [r["load_peak_mb"] for r in nf4]},
            "work_peak_mb": {"fp32": [r["work_peak_mb"] for r in fp32], "nf4": [r["work_peak_mb"] for r in nf4]},
            "ratio_loaded_above_imports": summary(
                [
                    (b["loaded_mb"] - b["after_imports_mb"]) / (a["loaded_mb"] - a["after_imports_mb"])
                    for a, b in zip(fp32, nf4, strict=True)
                ]
            ),
            "ratio_above_imports": summary(
                [b["peak_above_imports_mb"] / a["peak_above_imports_mb"] for a, b in zip(fp32, nf4, strict=True)]
            ),
        }
    return out


@dataclasses.dataclass(frozen=True)
class PredictSettings:
    batch_size: int
    max_new_tokens: int


@dataclasses.dataclass(frozen=True)
class BenchParams:
    dataset: str
    qlora: object
    predict: PredictSettings
    seed: int = 42


def bench_params(path: Path) -> BenchParams:
    """Only the params.yaml sections the benchmarks use, validated as the stages validate them."""
    from ruamel.yaml import YAML

    from annotune.config import QloraParams

    raw = YAML(typ="safe").load(path.read_text())
    predict = raw["predict"]
    return BenchParams(
        dataset=raw["dataset"],
        qlora=QloraParams(**raw["qlora"]),
        predict=PredictSettings(int(predict["batch_size"]), int(predict["max_new_tokens"])),
        seed=int(raw.get("seed", 42)),
    )


def bench_encoder_params(path: Path) -> dict:
    """params.yaml's encoder section, validated as baseline_train validates it (peers section)."""
    from ruamel.yaml import YAML

    from annotune.config import EncoderParams

    return dataclasses.asdict(EncoderParams(**YAML(typ="safe").load(path.read_text())["encoder"]))


def fmt(s: dict, digits: int = 1, scale: float = 1.0) -> str:
    return f"{s['median'] * scale:.{digits}f} [{s['min'] * scale:.{digits}f}-{s['max'] * scale:.{digits}f}]"


def table(results: dict) -> str:
    lines = [f"{'measurement':<58} median [min-max] over repeats", "-" * 100]
    add = lambda name, value: lines.append(f"{name:<58} {value}")  # noqa: E731
    if "train" in results:
        t = results["train"]
        add("fp32 matmul rate, GFLOP/s (best shape)", fmt(t["matmul_gflops"]))
        add("train batches: padding share of padded tokens", f"{100 * t['padding_fraction']:.1f}%")
        for name, v in t["variants"].items():
            add(f"LoRA train step {name}: real tokens/s", fmt(v["real_tokens_per_s"]))
            if "shared-prefix" in name:  # fewer FLOPs than the count below: the prefix is computed once
                computed = t["computed_tokens_shared_prefix"] / t["real_tokens"]
                add("  tokens computed / real tokens", f"{100 * computed:.1f}%")
                continue
            both = f"{fmt(v['mfu_conventional'], 1, 100)} | {fmt(v['mfu'], 1, 100)}"
            add("  MFU %: PaLM count (6N) | LoRA's own work", both)
        speed = {name: v["real_tokens_per_s"]["median"] for name, v in t["variants"].items()}
        add("NF4 / fp32 speed (packed)", f"{speed['nf4/packed'] / speed['fp32/packed']:.2f}x")
        add("packed / padded speed (NF4)", f"{speed['nf4/packed'] / speed['nf4/padded']:.2f}x")
        add("packed / padded speed (fp32)", f"{speed['fp32/packed'] / speed['fp32/padded']:.2f}x")
        add("shared prefix once / packed speed (NF4)", f"{speed['nf4/shared-prefix'] / speed['nf4/packed']:.2f}x")
        add(
            f"NF4 packed without / with LoRA dropout {t['lora_dropout']}",
            f"{speed['nf4/packed'] / speed['nf4-dropout/packed']:.2f}x",
        )
    if "stage" in results:
        s = results["stage"]
        add(
            f"training stage ({s['quantization']}, {s['train_examples']} posts x {s['epochs']} epochs): wall s",
            fmt(s["wall_seconds"]),
        )
        add(
            "  training (steps, checkpoints) | evaluation, s",
            f"{fmt(s['training_without_evaluation_seconds'])} | {fmt(s['evaluation_seconds'])}",
        )
        add(
            "  MFU % end to end: PaLM count | LoRA's own work",
            f"{fmt(s['mfu_end_to_end_conventional'], 1, 100)} | {fmt(s['mfu_end_to_end'], 1, 100)}",
        )
        add(
            "  MFU % without evaluation: PaLM count | LoRA's own work",
            f"{fmt(s['mfu_without_evaluation_conventional'], 1, 100)} | {fmt(s['mfu_without_evaluation'], 1, 100)}",
        )
    if "scoring" in results:
        s = results["scoring"]
        add(f"label scoring ({s['task']}, {s['rows']} rows): rows/s", fmt(s["scored_rows_per_s"], 2))
        add("naive generate() per row + parse: rows/s", fmt(s["naive_rows_per_s"], 2))
        add("speedup (interleaved pairs)", fmt(s["speedup"], 2) + "x")
        agreement = s["label_agreement_where_parsed"]
        add(
            "label agreement where the naive answer parses",
            f"{agreement:.3f} on {s['naive_parsed']}/{s['rows']} parsed" if agreement is not None else "none parsed",
        )
    if "memory" in results:
        for mode, m in results["memory"].items():
            add(
                f"peak RSS {mode}: fp32 / NF4, MB",
                f"{m['fp32_peak_mb']['median']:.0f} / {m['nf4_peak_mb']['median']:.0f}",
            )
            add(
                f"  NF4/fp32 ratio: whole process | above the imports ({m['after_imports_mb']['median']:.0f} MB)",
                f"{m['ratio_peak']['median']:.2f} | {m['ratio_above_imports']['median']:.2f}",
            )
            if None not in m["work_peak_mb"]["fp32"] + m["work_peak_mb"]["nf4"]:
                for phase, key in (("while loading", "load_peak_mb"), ("of the work after loading", "work_peak_mb")):
                    fp32, nf4 = (statistics.median(m[key][q]) for q in ("fp32", "nf4"))
                    add(f"  peak {phase}: fp32 / NF4, MB", f"{fp32:.0f} / {nf4:.0f}")
    if "peers" in results:
        from benchmarks.peers import table_lines

        table_lines(results["peers"], add, fmt)
    if "threads" in results:
        from benchmarks.threads import table_lines as thread_lines

        thread_lines(results["threads"], add, fmt)
    if "noop" in results:
        noop = results["noop"]
        add("no-op dvc repro, s", fmt(noop["seconds"], 2) if "seconds" in noop else f"skipped: {noop['skipped']}")
    if "full_repro" in results:
        add("full default dvc repro from scratch, min", f"{results['full_repro']['seconds'] / 60:.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke check: tiny sizes, one repeat")
    parser.add_argument("--repeats", type=int, help="repeats per measurement (default 3, quick 1)")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=SECTIONS + OPTIONAL_SECTIONS,
        help="run only these sections (peers and threads run only when named here)",
    )
    parser.add_argument(
        "--peers-sequential",
        action="store_true",
        help="peers: run the two sides one after the other with all the cores each (default: side by side, half each)",
    )
    parser.add_argument(
        "--peers-pairs",
        nargs="+",
        choices=PEER_PAIRS,
        default=list(PEER_PAIRS),
        help="peers: which comparisons (qlora: vs TRL SFTTrainer; classifier: encoder vs SetFit, ~40 min on 2 cores)",
    )
    parser.add_argument("--task", default="hasBiasedImplication", help="classification task to measure on")
    parser.add_argument(
        "--scoring-rows", type=int, help="score the first N test rows (default: the whole test split, as predict does)"
    )
    parser.add_argument("--full-repro", action="store_true", help="also time the whole default dvc repro from scratch")
    parser.add_argument("--show", type=Path, help="print the table of an earlier results JSON and exit")
    parser.add_argument(
        "--pipeline-dir",
        type=Path,
        default=ROOT,
        help="checkout whose models/ and data/ are measured (default: this one)",
    )
    parser.add_argument("--noop-dir", type=Path, help="time the no-op repro in this up-to-date checkout")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results.json")
    args = parser.parse_args(argv)
    if args.show:
        print(table(json.loads(args.show.read_text())))
        return
    repeats = args.repeats or (1 if args.quick else 3)
    if repeats < 1:
        parser.error("--repeats must be at least 1")
    from annotune.data.tasks import get_task

    params = bench_params(ROOT / "params.yaml")
    sections = args.only or list(SECTIONS)
    base = _need(args.pipeline_dir / "models" / "base" / "llm", "the converted base LLM")
    adapter = args.pipeline_dir / "models" / "qlora" / args.task
    if {"scoring", "memory"} & set(sections):  # the other sections train their own adapters
        _need(adapter / "annotune.json", "the task's QLoRA adapter")
    data = _need(args.pipeline_dir / "data" / "instruct" / args.task, "the task's instruct data")
    task = get_task(params.dataset, args.task)

    def done(section: str) -> None:  # partial results survive a failure in a later section
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"benchmarks: {section} done ({time.strftime('%H:%M:%S')}, load {os.getloadavg()})", file=sys.stderr)

    results: dict = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine_before": machine()}
    results["settings"] = {"quick": args.quick, "repeats": repeats, "task": args.task, "sections": sections}
    if "train" in sections:
        from benchmarks.training import bench_train_steps

        steps, batch = (1, 2) if args.quick else (2, params.qlora.batch_size)
        results["train"] = bench_train_steps(base, data, params.qlora, steps, batch, repeats)
        done("train")
    if "stage" in sections:
        from benchmarks.training import bench_train_stage

        stage_repeats = 1 if args.quick else max(1, repeats - 1)
        results["stage"] = bench_train_stage(base, data, params.qlora, 4 if args.quick else None, stage_repeats)
        done("stage")
    if "scoring" in sections:
        from benchmarks.scoring import bench_scoring

        rows = 4 if args.quick else args.scoring_rows
        results["scoring"] = bench_scoring(
            task, base, adapter, data, rows, params.predict.batch_size, params.predict.max_new_tokens, repeats
        )
        done("scoring")
    if "memory" in sections:
        memory_repeats = 1 if args.quick else max(1, repeats - 1)
        results["memory"] = memory_section(base, adapter, data, params, args.quick, memory_repeats)
        done("memory")
    if "peers" in sections:
        from benchmarks.peers import bench_peers

        peers_repeats = 1 if args.quick else max(1, repeats - 1)
        encoder = bench_encoder_params(ROOT / "params.yaml")
        results["peers"] = bench_peers(
            task,
            base,
            data,
            params,
            encoder,
            params.seed,
            args.quick,
            peers_repeats,
            args.peers_sequential,
            tuple(args.peers_pairs),
        )
        done("peers")
    if "threads" in sections:
        from benchmarks.threads import bench_threads

        steps, batch = (1, 2) if args.quick else (8, params.qlora.batch_size)
        results["threads"] = bench_threads(base, data, steps, batch, 1 if args.quick else repeats)
        done("threads")
    if "noop" in sections:
        from benchmarks.repro import bench_noop

        results["noop"] = bench_noop(max(3, repeats), args.noop_dir)
        done("noop")
    if args.full_repro:
        from benchmarks.repro import bench_full

        results["full_repro"] = bench_full(os.environ.get("ANNOTUNE_DATA_DIR"))
    results["machine_after"] = machine()
    results["earlier_single_measurements"] = {
        "full_default_repro_all_systems_minutes": 43.2,
        "full_qlora_only_pipeline_minutes": 18.55,
        "noop_repro_seconds": 0.9,
        "note": "one run each on this 2-core CPU, before issue #8's changes (README)",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    load = results["machine_before"]["loadavg"], results["machine_after"]["loadavg"]
    print(f"load average (1/5/15 min) before {load[0]}, after {load[1]}; JSON: {args.out}")


if __name__ == "__main__":
    main()
