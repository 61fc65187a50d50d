"""The ``adapter`` kind: a LoRA adapter trained on the quantized base LLM (QLoRA; the system ``qlora``), one per
task; it predicts as the prompted LLM does, on its own trained runtime and input length."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from annotune.data.tasks import Task
from annotune.systems.kind import Kind, Prediction, System, folder_version
from annotune.systems.meta import ModelMeta
from annotune.systems.registry import SystemSpec


def load_adapter(base_dir: Path, adapter_dir: Path, runtime, double_quant: bool = True):
    """The quantized base with a trained QLoRA adapter, for inference."""
    from peft import PeftModel

    from annotune.systems.models import load_causal_lm

    model = PeftModel.from_pretrained(load_causal_lm(base_dir, runtime, double_quant), adapter_dir)
    return model.eval()


class Adapter(Kind):
    name = "adapter"
    marker = "adapter_config.json"

    def train(self, spec, task, train, dev, section, *, base_dir, seed, dataset, out, live=None) -> dict:
        """One process, or each of the processes of a data-parallel launch (process 0 writes the folder's
        annotune.json and card); an interrupted run resumes from its last checkpoint in ``out``."""
        from annotune.data.io import data_fingerprints
        from annotune.runtime.processes import is_main_process
        from annotune.systems import model_card
        from annotune.systems.meta import write
        from annotune.systems.models import point_adapter_at_base, read_source, resolve_runtime
        from annotune.systems.training import train_qlora

        started = time.perf_counter()  # train_seconds, as every kind counts it: loading the base to the saved folder
        runtime = resolve_runtime(section.device, section.compute_dtype, section.quantization)
        if is_main_process():
            shutil.rmtree(out, ignore_errors=True)
        _, stats = train_qlora(base_dir, train, dev, section, runtime, seed, out, live)
        stats["train_seconds"] = round(time.perf_counter() - started, 3)
        if is_main_process():
            point_adapter_at_base(out, base_dir)
            training_data = data_fingerprints(train=train, dev=dev)
            write(
                out,
                task=task.name,
                labels=task.labels,
                dataset=dataset,
                base=read_source(base_dir),
                seed=seed,
                **{spec.section: section},
                runtime=runtime,
                stats=stats,
                training_data=training_data,
            )
            self.card(spec, out, kind="causal_adapter", task=task, dataset=dataset, base_dir=base_dir,
                      params={spec.section: section, "runtime": runtime.__dict__}, training_data=training_data,
                      sizes={"train": stats["train_examples"], "dev": stats["dev_examples"]},
                      metrics={k: stats[k] for k in ("train_loss", "dev_loss_per_epoch", "optimizer_steps")},
                      notes=model_card.quantized_base_note(runtime.__dict__, section.double_quant))  # fmt: skip
        return stats

    def load(self, spec: SystemSpec, task: Task, model_dir: Path, how: Prediction) -> System:
        """Predict exactly as the adapter was trained: its runtime, quantization and input length."""
        from annotune.systems.models import Runtime, load_tokenizer
        from annotune.systems.prompted import llm_predict

        trained = ModelMeta.read(model_dir)
        runtime = Runtime(**trained.runtime.model_dump(exclude_none=True))
        model = load_adapter(how.base_dir, model_dir, runtime, trained.qlora.double_quant)
        tokenizer = load_tokenizer(model_dir)
        predict = llm_predict(task, model, tokenizer, trained.qlora.max_input_tokens, lambda row: [], how)
        return System(spec.name, task, folder_version(model_dir), predict, model, runtime)
