"""The fast paths (issue #8) compute what the straightforward ones do, on a tiny random Llama:
padding-free packed training batches vs padded ones, and label scoring with the shared-prefix cache
and answers of one length scored in one pass vs one full forward pass per prompt and answer."""

import itertools
from unittest import mock

import pytest
import torch

from annotune.config import QloraParams
from annotune.data.tasks import get_task
from annotune.systems.models import load_causal_lm, load_tokenizer, resolve_runtime
from annotune.systems.packing import (
    IGNORE_INDEX,
    PACKED_ATTENTION,
    PackCollator,
    PadCollator,
    build_examples,
    packed_sdpa_attention,
    use_packed_attention,
)
from annotune.systems.predictors import load_adapter
from annotune.systems.prompts import answer_ids, instruct_record, prompt_ids
from annotune.systems.scoring import answer_logprobs, llm_predictions
from annotune.systems.training import lora_model, train_qlora

TASK = get_task("sbic", "offensiveYN")
POSTS = [
    "I love my neighbours and their dogs.",
    "Those people are all lazy and stupid, typical of them.",
    "What a beautiful day at the beach with friends. I love my neighbours and their dogs.",
    "Go back to where you came from, nobody wants you here.",
    "women",
]
LABELS = ["not_offensive", "offensive", "maybe_offensive", "offensive", "not_offensive"]


def records(n: int) -> list[dict]:
    return [
        instruct_record(TASK, {"id": str(i), "text": POSTS[i % 5] * (1 + i % 3), "labels": {TASK.name: LABELS[i % 5]}})
        for i in range(n)
    ]


def brute_force_logprob(model, prompt: list[int], answer: list[int]) -> float:
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.tensor([prompt + answer])).logits[0].float(), -1)
    return sum(logp[len(prompt) - 1 + k, token].item() for k, token in enumerate(answer))


def loss_and_grads(model, batch: dict) -> tuple[float, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    loss = model(**batch).loss
    loss.backward()
    return loss.item(), torch.cat([p.grad.flatten() for p in model.parameters() if p.requires_grad])


@pytest.mark.parametrize("share_prefix", [True, False])
@pytest.mark.parametrize("quantization", ["none", "nf4"])
def test_packed_batch_gives_the_padded_loss_and_gradients(tiny_llama, quantization, share_prefix):
    """Packed (with or without the shared prefix computed once) and padded batches: the same loss and
    gradients, LoRA dropout 0."""
    tokenizer = load_tokenizer(tiny_llama)
    runtime = resolve_runtime("cpu", "float32", quantization)
    params = QloraParams(quantization=quantization, r=4, alpha=8, dropout=0.0)
    model = lora_model(load_causal_lm(tiny_llama, runtime), params, runtime).train()
    torch.manual_seed(0)
    for name, parameter in model.named_parameters():
        if "lora_B" in name:  # B starts at zero; give the adapter a say so its gradients are compared too
            parameter.data.normal_(0, 0.05)
    examples, _ = build_examples(tokenizer, records(6), 64)
    lengths = {len(e["input_ids"]) for e in examples}
    assert len(lengths) > 2  # different lengths: the padded batch has padding the packed one drops

    collator = PackCollator(share_prefix)
    packed = collator(examples)
    padded = PadCollator(tokenizer.pad_token_id)(examples)
    shared = PackCollator.shared_prefix_length(examples) if share_prefix else 0
    assert shared > 20 or not share_prefix  # the system turn and the instruction
    assert packed["input_ids"].shape == (1, sum(len(e["input_ids"]) for e in examples) - shared * (len(examples) - 1))
    assert packed["input_ids"].numel() < padded["input_ids"].numel()
    answer_tokens = sum(sum(label != IGNORE_INDEX for label in e["labels"]) for e in examples)
    assert packed["shift_labels"].numel() == answer_tokens == len(packed["logits_to_keep"])

    loss_packed, grads_packed = loss_and_grads(model, packed)
    loss_padded, grads_padded = loss_and_grads(model, padded)
    assert loss_packed == pytest.approx(loss_padded, rel=1e-5)
    assert torch.allclose(grads_packed, grads_padded, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("packed_attention", [True, False])
def test_packing_does_not_let_examples_see_each_other(tiny_llama, packed_attention):
    """Each example's loss in a packed row equals its loss alone: the block-diagonal mask is in force,
    in annotune's attention (the shared prefix included) and in the stock one (no shared prefix)."""
    tokenizer, model = load_tokenizer(tiny_llama), load_causal_lm(tiny_llama, resolve_runtime("cpu", "float32", "none"))
    if packed_attention:
        use_packed_attention(model)
    examples, _ = build_examples(tokenizer, records(3), 64)
    with torch.no_grad():
        alone = [model(**PackCollator()([e])).loss.item() for e in examples]
        counts = [sum(label != IGNORE_INDEX for label in e["labels"]) for e in examples]
        together = model(**PackCollator(share_prefix=packed_attention)(examples)).loss.item()
    assert together == pytest.approx(sum(a * c for a, c in zip(alone, counts, strict=True)) / sum(counts), rel=1e-5)


def test_packed_attention_equals_sdpa_with_the_block_diagonal_mask():
    """Per-example attention over a packed row: outputs and gradients of the masked full-row SDPA."""
    torch.manual_seed(0)
    lengths, heads, kv_heads, dim = [5, 1, 9, 3], 4, 2, 8
    tokens = sum(lengths)
    query = torch.randn(1, heads, tokens, dim, requires_grad=True)
    key, value = (torch.randn(1, kv_heads, tokens, dim, requires_grad=True) for _ in range(2))
    example = torch.repeat_interleave(torch.arange(len(lengths)), torch.tensor(lengths))
    allowed = (example[:, None] == example[None, :]) & torch.ones(tokens, tokens, dtype=torch.bool).tril()
    expected = torch.nn.functional.scaled_dot_product_attention(
        query, key.repeat_interleave(2, 1), value.repeat_interleave(2, 1), attn_mask=allowed, scale=0.3
    ).transpose(1, 2)
    bounds = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)
    module = torch.nn.Module()
    got, _ = packed_sdpa_attention(module, query, key, value, None, scaling=0.3, cu_seq_lens_q=bounds, max_length_q=9)
    assert got.shape == (1, tokens, heads, dim)
    assert torch.allclose(got, expected, atol=1e-6)
    weights = torch.randn_like(got)
    grads = [torch.autograd.grad((out * weights).sum(), (query, key, value)) for out in (got, expected)]
    for a, b in zip(*grads, strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_training_model_attends_per_example_and_matches_the_stock_model(tiny_llama):
    """lora_model switches to the packed attention; packed batches (the prefix shared or not) and padded
    ones give the stock SDPA model's losses (its block-diagonal mask on unshared rows), so nothing but
    speed changes."""
    tokenizer, runtime = load_tokenizer(tiny_llama), resolve_runtime("cpu", "float32", "none")
    stock = load_causal_lm(tiny_llama, runtime)
    switched = load_causal_lm(tiny_llama, runtime)
    use_packed_attention(switched)
    assert switched.config._attn_implementation == PACKED_ATTENTION
    model = lora_model(load_causal_lm(tiny_llama, runtime), QloraParams(quantization="none", r=4), runtime)
    assert model.base_model.model.config._attn_implementation == PACKED_ATTENTION
    examples, _ = build_examples(tokenizer, records(5), 64)
    sdpa = torch.nn.functional.scaled_dot_product_attention
    with torch.no_grad(), mock.patch.object(torch.nn.functional, "scaled_dot_product_attention", wraps=sdpa) as spy:
        expected = stock(**PackCollator(share_prefix=False)(examples)).loss.item()
        assert stock(**PadCollator(tokenizer.pad_token_id)(examples)).loss.item() == pytest.approx(expected, rel=1e-6)
        spy.reset_mock()
        for batch in (PackCollator()(examples), PackCollator(share_prefix=False)(examples)):
            assert switched(**batch).loss.item() == pytest.approx(expected, rel=1e-6)
    per_example = [c for c in spy.call_args_list if c.args[0].shape[0] == len(examples)]  # one row per example
    assert {c.kwargs["attn_mask"] is None for c in per_example} == {True, False}  # the prefix as keys, or not


def test_shared_prefix_attention_equals_each_example_attending_to_its_own_copy():
    """Prefix once + each example's own tokens: the outputs and gradients of the unshared packed row."""
    torch.manual_seed(0)
    prefix, lengths, heads, kv_heads, dim = 4, [5, 1, 9, 3], 4, 2, 8
    own = [torch.randn(1, h, n, dim) for n in lengths for h in (heads, kv_heads, kv_heads)]
    shared_parts = [torch.randn(1, h, prefix, dim) for h in (heads, kv_heads, kv_heads)]
    leaves = [t.requires_grad_() for t in shared_parts + own]

    def row(which: int, share: bool):  # which: 0 query, 1 key, 2 value
        parts = [own[3 * i + which] for i in range(len(lengths))]
        if share:
            return torch.cat([shared_parts[which], *parts], dim=2)
        return torch.cat([torch.cat([shared_parts[which], p], dim=2) for p in parts], dim=2)

    module = torch.nn.Module()
    whole = [prefix + n for n in lengths]
    bounds = torch.tensor([0, *torch.tensor(whole).cumsum(0).tolist()], dtype=torch.int32)
    expected, _ = packed_sdpa_attention(
        module, *(row(i, False) for i in range(3)), None, scaling=0.3, cu_seq_lens_q=bounds, max_length_q=max(whole)
    )
    ends = torch.tensor([0, *lengths]).cumsum(0).tolist()  # each example's own tokens: ends[i]:ends[i + 1]
    shared_bounds = torch.tensor([0, *(prefix + e for e in ends)], dtype=torch.int32)  # the prefix, then each
    got, _ = packed_sdpa_attention(
        module,
        *(row(i, True) for i in range(3)),
        None,
        scaling=0.3,
        cu_seq_lens_q=shared_bounds,
        max_length_q=max(lengths),
        shared_prefix_length=prefix,
    )
    # the unshared row's prefix copies all hold the prefix's outputs: compare each example's own tokens,
    # and the prefix once
    starts = bounds[:-1].tolist()
    unshared_own = torch.cat([expected[:, s + prefix : s + w] for s, w in zip(starts, whole, strict=True)], dim=1)
    assert torch.allclose(got[:, :prefix], expected[:, :prefix], atol=1e-6)
    assert torch.allclose(got[:, prefix:], unshared_own, atol=1e-6)
    weights = torch.randn(1, sum(lengths), heads, dim)
    prefix_weights = torch.randn(1, prefix, heads, dim)
    # every copy of the prefix has the same outputs: a share of the prefix's weight each gives the same sum
    copies = [torch.cat([prefix_weights / len(lengths), weights[:, a:b]], dim=1) for a, b in itertools.pairwise(ends)]
    unshared_weights = torch.cat(copies, dim=1)
    grads_shared = torch.autograd.grad((got * torch.cat([prefix_weights, weights], dim=1)).sum(), leaves)
    grads_unshared = torch.autograd.grad((expected * unshared_weights).sum(), leaves)
    for a, b in zip(grads_shared, grads_unshared, strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_pack_collator_rejects_a_batch_without_answer_tokens():
    with pytest.raises(ValueError, match="no answer tokens"):
        PackCollator()([{"input_ids": [5, 6, 7], "labels": [IGNORE_INDEX] * 3}])


def test_training_stage_packed_matches_padded(tiny_llama, tmp_path):
    runtime = resolve_runtime("cpu", "float32", "nf4")
    params = QloraParams(quantization="nf4", r=4, alpha=8, dropout=0.0, epochs=2, batch_size=4, learning_rate=1e-2)
    runs = {}
    for packing in (True, False):
        out = tmp_path / str(packing)
        _, stats = train_qlora(tiny_llama, records(12), records(4), params, runtime, 0, out / "a", out / "l", packing)
        runs[packing] = stats
    assert runs[True]["train_loss"] == pytest.approx(runs[False]["train_loss"], rel=1e-4)
    for packed, padded in zip(runs[True]["dev_loss_per_epoch"], runs[False]["dev_loss_per_epoch"], strict=True):
        assert packed == pytest.approx(padded, rel=1e-4)
    tokenizer = load_tokenizer(tiny_llama)
    ids = torch.tensor([prompt_ids(tokenizer, TASK.instruction, POSTS[1], 64)[0]])
    with torch.no_grad():
        logits = [
            load_adapter(tiny_llama, tmp_path / str(p) / "a", runtime)(input_ids=ids).logits for p in (True, False)
        ]
    assert torch.allclose(logits[0], logits[1], atol=1e-4)


def test_answers_of_mixed_lengths_match_brute_force(tiny_llama):
    tokenizer, model = load_tokenizer(tiny_llama), load_causal_lm(tiny_llama, resolve_runtime("cpu", "float32", "none"))
    model.eval()
    prompts = [prompt_ids(tokenizer, TASK.instruction, p, 64)[0] for p in POSTS]
    eos = tokenizer.eos_token_id
    words = answer_ids(tokenizer, "women, black folks")[:-1]
    answers = [[eos], [words[0], eos], [words[1], eos], words[:3] + [eos], answer_ids(tokenizer, "maybe")]
    expected = torch.tensor([[brute_force_logprob(model, p, a) for a in answers] for p in prompts])
    for batch_size in (1, 2, 16):
        assert torch.allclose(
            answer_logprobs(model, prompts, answers, tokenizer.pad_token_id, batch_size), expected, atol=1e-4
        )


def test_predictions_match_one_full_pass_per_row_and_label(tiny_llama):
    tokenizer, model = load_tokenizer(tiny_llama), load_causal_lm(tiny_llama, resolve_runtime("cpu", "float32", "none"))
    model.eval()
    rows = records(5)
    prompts = [prompt_ids(tokenizer, r["instruction"], r["input"], 64)[0] for r in rows]
    answers = [answer_ids(tokenizer, TASK.verbalize(label)) for label in TASK.labels]
    predictions = llm_predictions(TASK, model, tokenizer, rows, prompts, batch_size=3, max_new_tokens=4)
    for row, prompt, prediction in zip(rows, prompts, predictions, strict=True):
        probabilities = torch.tensor([brute_force_logprob(model, prompt, a) for a in answers]).softmax(-1)
        assert prediction["id"] == row["id"]  # input order restored after length-sorted batches
        assert prediction["pred"] == TASK.labels[int(probabilities.argmax())]
        for label, p in zip(TASK.labels, probabilities, strict=True):
            assert prediction["scores"][label] == pytest.approx(float(p), abs=1e-5)
