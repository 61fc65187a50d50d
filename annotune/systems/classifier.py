"""The ``classifier`` kind: a sequence classifier (annotune/systems/classifiers.py) trained with one Trainer path: the
encoder fine-tuned (``encoder``), its soft prompt (``soft_prompt``), the LLM with a classification head and LoRA
(``llm_head``); the distilled and augmented encoders are the ``encoder`` recipe trained on other rows
(``variant_of``: annotune/systems/encoder_variant.py)."""

from __future__ import annotations

import time
from pathlib import Path

from annotune.data.tasks import Task
from annotune.systems.kind import Kind, Prediction, System, folder_version
from annotune.systems.registry import SystemSpec

# classifier recipe -> the kind of folder it saves (annotune.systems.model_card.KINDS): the encoder whole, the others
# adapters
CARD_KINDS = {"encoder": "seq_cls_model", "soft_prompt": "seq_cls_adapter", "llm_head": "seq_cls_adapter"}


class Classifier(Kind):
    name = "classifier"
    marker = "annotune_classifier.json"  # classifiers.META_FILE

    def train(self, spec, task, train, dev, section, *, base_dir, seed, dataset, out, live=None, **provenance):
        """A baseline's folder: the model, annotune.json (base, params, stats) and its card. A variant
        (``spec.variant_of``: trained on rows other than gold) records ``provenance`` in its annotune.json instead
        of the base and stats, and has no card."""
        from annotune.data.io import data_fingerprints
        from annotune.systems import classifiers, model_card
        from annotune.systems.meta import write
        from annotune.systems.models import point_adapter_at_base, read_source, resolve_runtime

        started = time.perf_counter()  # the training time goes into the cost per 1,000 items (evaluate)
        _, stats = classifiers.train_classifier(spec.recipe, base_dir, task, train, dev, section, seed, out)
        training_data = data_fingerprints(train=train, dev=dev)
        if spec.variant_of is not None:
            stats["train_seconds"] = time.perf_counter() - started
            write(out, task=task.name, labels=task.labels, method=spec.recipe, params=section,
                  training_data=training_data, **provenance)  # fmt: skip
            return stats
        stats["train_seconds"] = round(time.perf_counter() - started, 3)
        write(out, task=task.name, labels=task.labels, method=spec.recipe, base=read_source(base_dir),
              params=section, stats=stats, training_data=training_data)  # fmt: skip
        if CARD_KINDS[spec.recipe] == "seq_cls_adapter":
            point_adapter_at_base(out, base_dir)
        notes = []
        if spec.base == "llm":  # the LLM head: on the (possibly quantized) base LLM
            runtime = resolve_runtime(section.device, section.compute_dtype, section.quantization)
            notes = model_card.quantized_base_note(runtime.__dict__, double_quant=True)
        self.card(spec, out, kind=CARD_KINDS[spec.recipe], task=task, dataset=dataset, params=section,
                  base_dir=base_dir, training_data=training_data, sizes={"train": len(train), "dev": len(dev)},
                  metrics={k: stats[k] for k in ("dev_loss_per_epoch", "epochs_run")}, notes=notes)  # fmt: skip
        return stats

    def load(self, spec: SystemSpec, task: Task, model_dir: Path, how: Prediction) -> System:
        from annotune.systems import classifiers

        model, tokenizer, meta = classifiers.load_classifier(model_dir)

        def predict(rows):
            # with the task: a multi-label model's labels keep their declared case and get their scores
            return classifiers.loaded_classifier_predictions(model, tokenizer, meta, rows, how.batch_size, task)

        return System(spec.name, task, folder_version(model_dir), predict)
