"""Label scoring, generation and QLoRA training on a tiny random Llama."""

import pytest
import torch

from annotune.config import QloraParams
from annotune.systems.models import load_causal_lm, load_tokenizer, resolve_runtime
from annotune.systems.packing import IGNORE_INDEX, PadCollator, build_examples
from annotune.systems.predictors import load_adapter
from annotune.systems.prompts import answer_ids, prompt_ids
from annotune.systems.scoring import answer_logprobs, generate
from annotune.systems.training import train_qlora
from tests.helpers import OFFENSIVE as TASK
from tests.helpers import POSTS, records

FP32 = resolve_runtime("cpu", "float32", "none")


def brute_force_logprob(model, prompt, answer):
    ids = torch.tensor([prompt + answer])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
    return sum(logp[len(prompt) - 1 + k, token].item() for k, token in enumerate(answer))


def test_instruction_lists_allowed_answers():
    record = records(1)[0]
    assert "Answer with one of: yes, maybe, no." in record["instruction"]
    assert record["output"] == "no" and record["label"] == "not_offensive"


def test_answer_scoring_matches_brute_force_with_padding_and_cache(tiny_llama):
    tokenizer, model = load_tokenizer(tiny_llama), load_causal_lm(tiny_llama, FP32).eval()
    prompts = [prompt_ids(tokenizer, TASK.instruction, p, 64)[0] for p in POSTS]
    answers = [answer_ids(tokenizer, TASK.verbalize(label)) for label in TASK.labels]
    assert max(len(a) for a in answers) > 2  # multi-token answers exercise the cached continuation
    batched = answer_logprobs(model, prompts, answers, tokenizer.pad_token_id, batch_size=3)
    for i, prompt in enumerate(prompts):
        for j, answer in enumerate(answers):
            assert batched[i, j].item() == pytest.approx(brute_force_logprob(model, prompt, answer), abs=1e-4)


def test_generation_is_independent_of_batching(tiny_llama):
    tokenizer, model = load_tokenizer(tiny_llama), load_causal_lm(tiny_llama, FP32).eval()
    prompts = [prompt_ids(tokenizer, TASK.instruction, p, 64)[0] for p in POSTS]
    assert generate(model, tokenizer, prompts, 6, batch_size=4) == generate(model, tokenizer, prompts, 6, batch_size=1)


def test_prompt_truncation_counts(tiny_llama):
    tokenizer = load_tokenizer(tiny_llama)
    _, cut = prompt_ids(tokenizer, TASK.instruction, POSTS[1] * 20, 16)
    assert cut
    examples, truncated = build_examples(tokenizer, records(4), max_input_tokens=4)
    assert truncated == 4
    answer = answer_ids(tokenizer, "no")
    prompt_length = len(examples[0]["input_ids"]) - len(answer)
    assert examples[0]["labels"] == [IGNORE_INDEX] * prompt_length + answer  # loss on the answer only


def test_answer_only_logits_give_the_full_loss(tiny_llama):
    """The collator's logits_to_keep shortcut must not change the loss."""
    tokenizer, model = load_tokenizer(tiny_llama), load_causal_lm(tiny_llama, FP32).eval()
    examples, _ = build_examples(tokenizer, records(4), 64)
    batch = PadCollator(tokenizer.pad_token_id)(examples)
    with torch.no_grad():
        short = model(**batch).loss
        full_labels = torch.full_like(batch["input_ids"], IGNORE_INDEX)
        full_labels[:, -batch["labels"].shape[1] :] = batch["labels"]
        full = model(**{**batch, "labels": full_labels, "logits_to_keep": 0}).loss
    assert short.item() == pytest.approx(full.item(), rel=1e-5)


@pytest.mark.parametrize("quantization", ["none", "nf4"])
def test_adapter_reload_gives_same_logits(tiny_llama, tmp_path, quantization):
    runtime = resolve_runtime("cpu", "float32", quantization)
    params = QloraParams(quantization=quantization, r=4, alpha=8, epochs=2, batch_size=4, learning_rate=1e-2)
    trained, stats = train_qlora(
        tiny_llama, records(16), records(4), params, runtime, 0, tmp_path / "adapter", tmp_path / "live"
    )
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()
    assert len(stats["dev_loss_per_epoch"]) == 2
    assert (tmp_path / "live" / "metrics.json").exists()
    lora_b = [p for n, p in trained.named_parameters() if "lora_B" in n]
    assert lora_b and any(p.abs().sum() > 0 for p in lora_b)  # LoRA B starts at zero: training moved it

    tokenizer = load_tokenizer(tmp_path / "adapter")
    ids = torch.tensor([prompt_ids(tokenizer, TASK.instruction, POSTS[1], 64)[0]])
    reloaded = load_adapter(tiny_llama, tmp_path / "adapter", runtime)
    base = load_causal_lm(tiny_llama, runtime).eval()
    with torch.no_grad():
        logits = reloaded(input_ids=ids).logits
        assert torch.allclose(logits, trained.eval()(input_ids=ids).logits, atol=1e-5)
        assert not torch.allclose(logits, base(input_ids=ids).logits, atol=1e-3)  # the adapter matters


def test_4bit_inference_is_stable_across_saves(tiny_llama):
    """bitsandbytes' AVX512-BF16 repacking must stay off: with it, eval logits drift after state_dict()."""
    model = load_causal_lm(tiny_llama, resolve_runtime("cpu", "float32", "nf4")).eval()
    ids = torch.tensor([[5, 6, 7, 8, 9, 10]])
    with torch.no_grad():
        first = model(input_ids=ids).logits
        model.state_dict()
        assert torch.equal(first, model(input_ids=ids).logits)


@pytest.mark.parametrize("quantization", ["nf4", "int8"])
def test_quantized_model_does_not_keep_the_float_checkpoint_mapped(tiny_llama, quantization):
    """The unquantized weights (embeddings, norms) are copied out of the memory-mapped float32 file, so its
    pages leave resident memory once loading is done; an output head tied to the embeddings stays tied."""
    import gc
    from pathlib import Path

    model = load_causal_lm(tiny_llama, resolve_runtime("cpu", "float32", quantization))
    gc.collect()
    assert str(Path(tiny_llama) / "model.safetensors") not in Path("/proc/self/maps").read_text()
    tied = model.lm_head.weight is model.model.embed_tokens.weight
    assert tied == model.config.tie_word_embeddings
