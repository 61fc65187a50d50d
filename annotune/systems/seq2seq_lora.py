"""The ``seq2seq`` kind: an encoder-decoder (T5 family) with a LoRA adapter trained to write each row's answer
(annotune/systems/seq2seq.py, which saves the folder's annotune.json)."""

from __future__ import annotations

from pathlib import Path

from annotune.data.tasks import Task
from annotune.systems.kind import Kind, Prediction, System, folder_version
from annotune.systems.registry import SystemSpec


class Seq2SeqLora(Kind):
    name = "seq2seq"
    marker = "annotune.json"  # seq2seq.META_FILE

    def train(self, spec, task, train, dev, section, *, base_dir, seed, dataset, out, live=None) -> dict:
        from annotune.data.io import data_fingerprints
        from annotune.systems import seq2seq

        _, stats = seq2seq.train(task, base_dir, train, dev, section, seed, out)
        self.card(spec, out, kind="seq2seq_adapter", task=task, dataset=dataset, params=section, base_dir=base_dir,
                  training_data=data_fingerprints(train=train, dev=dev), sizes={"train": len(train), "dev": len(dev)},
                  metrics={k: stats[k] for k in ("train_loss", "dev_loss_per_epoch")})  # fmt: skip
        return stats

    def load(self, spec: SystemSpec, task: Task, model_dir: Path, how: Prediction) -> System:
        from annotune.systems import seq2seq
        from annotune.systems.meta import ModelMeta

        model, tokenizer, _ = seq2seq.load(model_dir)
        max_input = ModelMeta.read(model_dir).params["max_input_tokens"]

        def predict(rows):
            return seq2seq.predictions(task, model, tokenizer, rows, max_input, how.batch_size, how.max_new_tokens)

        return System(spec.name, task, folder_version(model_dir), predict)
