"""dvc.yaml's top-level `artifacts:`: every trained model folder as a model-registry artifact.

DVC's model registry (``dvc artifacts get``, DVC Studio) sees a model only when dvc.yaml declares it under
``artifacts:``, and that section cannot loop over params lists, so it is written out from params.yaml's tasks and
systems (``annotune artifacts`` prints it; tests/test_artifacts.py checks that dvc.yaml matches). The paths come
from the systems registry: the stage that writes a folder and this section name it the same way.

    annotune artifacts                   # the section for params.yaml
    dvc artifacts get . qlora-hasBiasedImplication -o adapter/   # one trained folder, from this repository
"""

from __future__ import annotations

import argparse


def declared_artifacts(params) -> dict[str, dict]:
    """``<system>-<task>`` -> {path, type, desc, labels} for every system that trains a folder per task."""
    from annotune.systems import REGISTRY, enabled

    artifacts = {}
    for task in params.tasks:
        for name in enabled(params.systems, task, params.distill.tasks, params.augment.tasks):
            spec = REGISTRY[name]
            if spec.trained_by is None:  # the prompted LLM: the base model, no folder of its own
                continue
            artifacts[f"{name}-{task}"] = {
                "path": str(spec.model_dir(task)),
                "type": "model",
                "desc": f"{spec.display} for {task} (stage {spec.trained_by}; its annotune.json says how)",
                "labels": [task, name, spec.kind],
            }
    return artifacts


def artifacts_yaml(params) -> str:
    import io

    from ruamel.yaml import YAML

    yaml, out = YAML(), io.StringIO()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 200
    yaml.dump({"artifacts": declared_artifacts(params)}, out)
    return out.getvalue()


def main(argv: list[str]) -> None:
    from annotune.config import load_params

    parser = argparse.ArgumentParser(
        prog="annotune artifacts",
        description="Print dvc.yaml's `artifacts:` section (DVC's model registry) for params.yaml's tasks and systems.",
    )
    parser.parse_args(argv)
    print(artifacts_yaml(load_params()), end="")
