"""seq2seq_lora: an encoder-decoder (T5 family, params.yaml ``models.seq2seq``) with a LoRA adapter trained to write
each row's answer (the ``seq2seq`` params section).

The encoder reads the task's instruction and the post; the decoder writes the answer, trained on the answer tokens
(then end-of-sequence) exactly as they are scored. Prediction is the decoder LLMs' (annotune/systems/scoring.py):
classification scores every allowed answer as log P(answer | input) and renormalizes over the answers, so every
prediction is a valid label with a probability per label; set-valued tasks are answered by greedy generation, parsed
like the other systems' generated text.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import torch

from annotune.config import save_resolved
from annotune.data import paths
from annotune.data.io import data_fingerprints, read_json
from annotune.data.tasks import Task
from annotune.runtime.threads import fixed_threads
from annotune.systems.models import adapter_base, point_adapter_at_base, portable_tokenizer, read_source
from annotune.systems.prompts import answer_ids, truncate_text
from annotune.systems.scoring import batches_by_length, first_line, label_records, left_pad, text_records

META_FILE = "annotune.json"


def source_ids(tokenizer, instruction: str, text: str, max_input_tokens: int) -> list[int]:
    """The encoder's input: the instruction, then the post cut to ``max_input_tokens`` tokens (flan-T5's own
    instruction format: no chat template)."""
    return tokenizer(f"{instruction}\n\n{truncate_text(tokenizer, text, max_input_tokens)[0]}")["input_ids"]


def _load_base(base_dir: Path):
    from transformers import AutoModelForSeq2SeqLM

    # float32 everywhere: T5 overflows in float16, and the models this system is meant for (flan-T5 small / base)
    # train in minutes on one GPU without mixed precision
    return AutoModelForSeq2SeqLM.from_pretrained(base_dir, dtype=torch.float32)


def _dataset(tokenizer, task: Task, rows: list[dict], max_input_tokens: int):
    from datasets import Dataset

    return Dataset.from_dict(
        {
            "input_ids": [source_ids(tokenizer, task.instruction, r["input"], max_input_tokens) for r in rows],
            "labels": [answer_ids(tokenizer, r["output"]) for r in rows],
        }
    )


def train(
    task: Task,
    base_dir: Path,
    train_rows: list[dict],
    dev_rows: list[dict],
    params,
    seed: int,
    out_dir: Path,
) -> tuple[object, dict]:
    """Train the LoRA adapter on the instruct records and save it to ``out_dir`` with its tokenizer and an
    ``annotune.json`` (task, labels, base, params, stats, training data fingerprints); returns the model and the
    stats (the stage writes the model card: prediction code does not depend on the card's). Seeded, on
    ``threads.TRAIN_THREADS`` CPU threads (same inputs, same weights)."""
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoTokenizer, DataCollatorForSeq2Seq, Trainer, TrainingArguments, set_seed

    started = time.perf_counter()  # the training time goes into the cost per 1,000 items (evaluate)
    set_seed(seed)
    tokenizer = portable_tokenizer(AutoTokenizer.from_pretrained(base_dir))
    lora = LoraConfig(
        r=params.r,
        lora_alpha=params.alpha,
        target_modules=list(params.target_modules),
        lora_dropout=params.dropout,
        bias="none",
        task_type=TaskType.SEQ_2_SEQ_LM,
    )
    with fixed_threads():
        model = get_peft_model(_load_base(base_dir), lora)
        args = TrainingArguments(
            output_dir=str(out_dir / "checkpoints"),
            per_device_train_batch_size=params.batch_size,
            per_device_eval_batch_size=params.batch_size,
            num_train_epochs=params.epochs,
            learning_rate=params.learning_rate,
            eval_strategy="epoch",
            save_strategy="no",
            seed=seed,
            data_seed=seed,
            report_to="none",
            use_cpu=not torch.cuda.is_available(),
            logging_steps=10,
            dataloader_num_workers=0,
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=_dataset(tokenizer, task, train_rows, params.max_input_tokens),
            eval_dataset=_dataset(tokenizer, task, dev_rows, params.max_input_tokens),
            data_collator=DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100),
        )
        result = trainer.train()
    shutil.rmtree(out_dir / "checkpoints", ignore_errors=True)
    model.save_pretrained(out_dir)
    point_adapter_at_base(out_dir, base_dir)
    tokenizer.save_pretrained(out_dir)
    dev_losses = [e["eval_loss"] for e in trainer.state.log_history if "eval_loss" in e]
    stats = {
        "train_loss": result.training_loss,
        "dev_loss_per_epoch": dev_losses,
        "train_rows": len(train_rows),
        "train_seconds": round(time.perf_counter() - started, 3),
    }
    save_resolved(
        out_dir / META_FILE,
        task=task.name,
        method="seq2seq_lora",
        labels=task.labels,
        base=read_source(base_dir),
        params=params,
        stats=stats,
        training_data=data_fingerprints(train=train_rows, dev=dev_rows),
    )
    return model, stats


def load(model_dir: Path):
    """(model, tokenizer, the folder's annotune.json): the base (the folder the adapter names, else the pipeline's
    ``models/base/seq2seq``) with the trained adapter, for inference."""
    from peft import PeftModel
    from transformers import AutoTokenizer

    base = adapter_base(model_dir)
    base = base if isinstance(base, Path) else paths.base_dir("seq2seq")  # a hub id: base_model@seq2seq's copy
    model = PeftModel.from_pretrained(_load_base(base), model_dir)
    if torch.cuda.is_available():
        model = model.to("cuda")
    tokenizer = portable_tokenizer(AutoTokenizer.from_pretrained(model_dir))
    return model.eval(), tokenizer, read_json(Path(model_dir) / META_FILE)


@torch.inference_mode()
def answer_logprobs(model, sources: list[list[int]], answers: list[list[int]], pad_id: int, batch_size: int):
    """log P(answer | source) for every source x answer: a float tensor [len(sources), len(answers)]. Each batch
    is encoded once; the decoder then reads every answer against the same encoder states."""
    device = next(model.parameters()).device
    scores = torch.empty(len(sources), len(answers))
    for index in batches_by_length([len(s) for s in sources], batch_size, "scoring"):
        ids, mask = left_pad([sources[i] for i in index], pad_id, device)
        encoded = model.get_encoder()(input_ids=ids, attention_mask=mask)
        for column, answer in enumerate(answers):
            labels = torch.tensor([answer] * len(index), device=device)
            logits = model(encoder_outputs=encoded, attention_mask=mask, labels=labels).logits
            token_logprobs = torch.log_softmax(logits.float(), dim=-1).gather(-1, labels[..., None]).squeeze(-1)
            scores[index, column] = token_logprobs.sum(-1).cpu()
    return scores


@torch.inference_mode()
def generate(model, tokenizer, sources: list[list[int]], max_new_tokens: int, batch_size: int) -> list[str]:
    """Greedy decoding; the first line of each answer, special tokens removed."""
    device = next(model.parameters()).device
    texts: list[str] = [""] * len(sources)
    for index in batches_by_length([len(s) for s in sources], batch_size, "generating"):
        ids, mask = left_pad([sources[i] for i in index], tokenizer.pad_token_id, device)
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False)
        for row, i in enumerate(index):
            texts[i] = first_line(tokenizer.decode(out[row], skip_special_tokens=True))
    return texts


def predictions(
    task: Task, model, tokenizer, rows: list[dict], max_input_tokens: int, batch_size: int, max_new_tokens: int
) -> list[dict]:
    """Prediction records for instruct-like ``rows`` (see scoring.llm_predictions: the same records)."""
    sources = [source_ids(tokenizer, task.instruction, r["input"], max_input_tokens) for r in rows]
    if task.is_classification:
        answers = [answer_ids(tokenizer, task.verbalize(label)) for label in task.labels]
        logprobs = answer_logprobs(model, sources, answers, tokenizer.pad_token_id, batch_size)
        return label_records(task, rows, logprobs.softmax(-1))
    return text_records(task, rows, generate(model, tokenizer, sources, max_new_tokens, batch_size))
