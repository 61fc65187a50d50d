"""Same data, params and seed: the same weights and predictions, for every trained system.

Each system is trained twice in this process; between the two runs the global random generators are
drawn from (whatever ran before a stage must not matter) and the torch CPU thread count changes (1, then
2): float sums are split by thread count, and the soft prompt's high learning rate turned that rounding
into other weights and flipped predictions (a rerun of `dvc repro` on another thread count).
"""

import random

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from annotune.config import BaselinesParams, EncoderParams, LlmHeadParams, QloraParams
from annotune.systems import baselines
from annotune.systems.classifiers import classifier_predictions, train_classifier
from annotune.systems.models import load_tokenizer, resolve_runtime
from annotune.systems.predictors import load_adapter
from annotune.systems.prompts import prompt_ids
from annotune.systems.training import train_qlora
from tests.conftest import make_tiny_bert
from tests.helpers import BIAS, BIAS_ROWS, POSTS, TEXTS, records

THREADS = (1, 2)


@pytest.fixture(autouse=True)
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def disturb(run: int) -> None:
    """What differs between the two runs: the thread count and the global generators' state."""
    torch.set_num_threads(THREADS[run])
    for _ in range(run + 1):
        torch.rand(5), random.random(), np.random.rand()


@pytest.fixture(scope="module")
def long_bert(tmp_path_factory):
    """A small BERT taking long inputs: attention over ~140 positions is split across CPU threads."""
    folder = tmp_path_factory.mktemp("long_bert")
    texts = TEXTS * 3 + [BIAS.instruction]
    return make_tiny_bert(
        folder,
        texts,
        hidden_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=256,
        max_position_embeddings=256,
    )


# inputs cut at max_length 128: with the soft prompt's virtual tokens, about 140 positions
LONG_ROWS = [{**r, "input": " ".join(TEXTS[int(r["id"]) % 4 :] + TEXTS) * 6} for r in BIAS_ROWS]


def trained_weights(model) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().cpu().clone() for name, tensor in model.state_dict().items()}


def assert_same_weights(first: dict, second: dict) -> None:
    assert first.keys() == second.keys()
    differing = [name for name in first if not torch.equal(first[name], second[name])]
    assert not differing, f"{len(differing)} tensors differ, e.g. {differing[:3]}"


PARAMS = {
    "encoder": EncoderParams(epochs=2, batch_size=8, learning_rate=1e-3, patience=2),
    "soft_prompt": EncoderParams(
        epochs=4, batch_size=8, patience=4, prompt_learning_rate=1e-2, virtual_tokens=8, prompt_init="text"
    ),
    "llm_head": LlmHeadParams(
        quantization="none", compute_dtype="float32", device="cpu", epochs=2, batch_size=4, learning_rate=1e-2, r=4
    ),
}


@pytest.mark.parametrize("method", ["encoder", "soft_prompt", "llm_head"])
def test_classifiers_train_identically_twice(method, long_bert, tiny_llama, tmp_path):
    base, rows = (tiny_llama, BIAS_ROWS) if method == "llm_head" else (long_bert, LONG_ROWS)
    weights, folders = [], []
    for run in range(2):
        disturb(run)
        folder = tmp_path / f"run{run}"
        model, _ = train_classifier(method, base, BIAS, rows, rows[:4], PARAMS[method], 42, folder)
        weights.append(trained_weights(model))
        folders.append(folder)
    assert_same_weights(*weights)
    torch.set_num_threads(1)  # predictions compared on one setting: the trained weights are what is checked
    predictions = [classifier_predictions(BIAS, folder, rows, batch_size=4) for folder in folders]
    assert predictions[0] == predictions[1]


def test_tfidf_logreg_trains_identically_twice():
    task = BIAS
    params = BaselinesParams()
    fitted = []
    for run in range(2):
        disturb(run)
        fitted.append(baselines.train("tfidf_logreg", task, BIAS_ROWS, params, 42))
    first, second = (model["pipeline"][-1] for model in fitted)
    assert np.array_equal(first.coef_, second.coef_) and np.array_equal(first.intercept_, second.intercept_)
    assert baselines.predict(task, fitted[0], BIAS_ROWS) == baselines.predict(task, fitted[1], BIAS_ROWS)


def test_qlora_adapter_trains_identically_twice(tiny_llama, tmp_path):
    runtime = resolve_runtime("cpu", "float32", "nf4")
    params = QloraParams(quantization="nf4", r=4, alpha=8, dropout=0.1, epochs=1, batch_size=4, learning_rate=1e-2)
    adapters = []
    for run in range(2):
        disturb(run)
        out = tmp_path / f"run{run}"
        train_qlora(tiny_llama, records(8), records(4), params, runtime, 42, out, tmp_path / f"live{run}")
        adapters.append(out)
    assert_same_weights(*(load_file(folder / "adapter_model.safetensors") for folder in adapters))
    torch.set_num_threads(1)
    tokenizer = load_tokenizer(tiny_llama)
    ids = torch.tensor([prompt_ids(tokenizer, records(1)[0]["instruction"], POSTS[1], 64)[0]])
    logits = []
    for folder in adapters:
        with torch.no_grad():
            logits.append(load_adapter(tiny_llama, folder, runtime)(input_ids=ids).logits)
    assert torch.equal(*logits)
