"""The ``annotune`` command: its subcommands (user tools), each run by ``cli.run``.

    annotune systems                         # every system: kind, the stage that trains it, its model folder
    annotune annotate <task> <system> ...    # label a file with a trained system (resumable, hand-off)
    annotune estimate <task> ...             # prevalences from model labels + a random human-labelled sample
    annotune export <task> --out DIR         # a task's adapter merged into a plain model folder
    annotune profiles run|apply|show NAME    # named parameter sets (the GPU study, the CPU default)
    annotune scaling run|report ...          # score vs model size, one DVC experiment per model
    annotune budget run|report ...           # how many labels each system needs, one experiment per size
    annotune tune run|report|profile ...     # every system searched with the same trials on dev (Optuna)
    annotune plots ...                       # dvc plots rendered offline
    annotune artifacts                       # dvc.yaml's artifacts: (the model registry) for params.yaml

Each subcommand imports its module only when it runs, so ``annotune --help`` is instant.
"""

from __future__ import annotations

import importlib
import sys

from annotune.runtime.cli import run

# subcommand -> (module holding its main(argv), one-line help)
COMMANDS = {
    "systems": ("annotune.systems", "list every system: kind, params group, training stage, model folder"),
    "annotate": ("annotune.workflows.annotate", "label a CSV / TSV / JSONL with a trained system"),
    "estimate": (
        "annotune.workflows.estimate_cli",
        "prevalences with valid intervals from model labels + a few human labels",
    ),
    "export": ("annotune.workflows.export", "merge a task's LoRA adapter into a plain model folder"),
    "profiles": ("annotune.workflows.profiles", "run, apply or show a named parameter set (profiles/<name>.yaml)"),
    "scaling": ("annotune.workflows.scaling", "score vs model size: run one experiment per model, then report"),
    "budget": ("annotune.workflows.budget", "label budget curve: one experiment per training-set size, then report"),
    "tune": (
        "annotune.workflows.tune",
        "tune every system with the same number of trials on dev, then report or profile",
    ),
    "plots": ("annotune.evaluation.offline_plots", "render dvc plots as an HTML page that works offline"),
    "select": (
        "annotune.workflows.select",
        "choose the items humans label next: random, uncertainty, mixture, ActiveLab",
    ),
    "labelstudio": ("annotune.workflows.labelstudio", "export tasks to Label Studio and import its annotations back"),
    "artifacts": (
        "annotune.evaluation.dvc_sections",
        "print dvc.yaml's artifacts: section (DVC's model registry) for params.yaml",
    ),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {help_text}" for name, (_, help_text) in COMMANDS.items()]
    header = "usage: annotune <command> [options]   (annotune <command> --help for its options)"
    return header + "\n\ncommands:\n" + "\n".join(lines)


def main() -> None:
    """Entry point of the ``annotune`` console script."""
    argv = sys.argv[1:]
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        sys.exit(0 if argv else 2)
    if argv[0] not in COMMANDS:
        print(f"annotune: unknown command {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        sys.exit(2)
    module = importlib.import_module(COMMANDS[argv[0]][0])
    sys.argv = [f"annotune {argv[0]}", *argv[1:]]
    run(module.main)
