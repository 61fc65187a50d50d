"""Sequence classifiers on tiny models: encoder fine-tuning (layer freezing, class weights, multi-label
head), soft prompts, and the LLM with a LoRA-trained classification head -- each reloaded and compared."""

import pytest
import torch

from annotune.config import EncoderParams, LlmHeadParams
from annotune.data.tasks import get_task
from annotune.systems.classifiers import classifier_predictions, freeze_layers, load_classifier, train_classifier
from tests.conftest import make_tiny_bert
from tests.helpers import BIAS, BIAS_ROWS, TEXTS, text_rows

TARGET = get_task("sbic", "targetMinority")
FAST = EncoderParams(epochs=3, batch_size=8, learning_rate=1e-3, prompt_learning_rate=1e-2, virtual_tokens=4)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    return make_tiny_bert(tmp_path_factory.mktemp("tiny_bert"), TEXTS * 3 + [BIAS.instruction])


TARGET_ROWS = text_rows(["women", "immigrants", "none", "none"])


def assert_reload_matches(trained, model_dir):
    """A head (or prompt) silently re-initialized on reload would change the logits."""
    trained.eval()
    reloaded, tokenizer, _ = load_classifier(model_dir)
    batch = tokenizer(TEXTS[:3], padding=True, return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(trained(**batch).logits, reloaded(**batch).logits, atol=1e-5)


@pytest.mark.parametrize("method", ["encoder", "soft_prompt"])
def test_encoder_methods_train_predict_and_reload(method, tiny_bert, tmp_path):
    params = EncoderParams(**{**FAST.__dict__, "class_weight": "balanced"}) if method == "encoder" else FAST
    trained, stats = train_classifier(method, tiny_bert, BIAS, BIAS_ROWS, BIAS_ROWS[:4], params, 0, tmp_path)
    assert stats["labels"] == BIAS.labels and 1 <= stats["epochs_run"] <= 3
    assert_reload_matches(trained, tmp_path)
    first = classifier_predictions(BIAS, tmp_path, BIAS_ROWS[:4], batch_size=3)
    assert first == classifier_predictions(BIAS, tmp_path, BIAS_ROWS[:4], batch_size=4)  # padding-independent
    assert all(set(p["scores"]) == set(BIAS.labels) and p["pred"] in BIAS.labels for p in first)


def test_soft_prompt_keeps_the_base_frozen(tiny_bert, tmp_path):
    from transformers import AutoModelForSequenceClassification

    trained, _ = train_classifier("soft_prompt", tiny_bert, BIAS, BIAS_ROWS, BIAS_ROWS[:4], FAST, 0, tmp_path)
    base = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2)
    weights = dict(trained.named_parameters())
    name = next(n for n in weights if n.endswith("encoder.layer.0.attention.self.query.weight"))
    assert torch.equal(weights[name], base.bert.encoder.layer[0].attention.self.query.weight)


def test_freeze_all_but_last_layers(tiny_bert):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2)
    freeze_layers(model, 2)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(
        ".layer.1." in n or ".layer.2." in n or "pooler" in n or "classifier" in n for n in trainable
    )
    assert any("pooler" in n for n in trainable) and any("classifier" in n for n in trainable)
    with pytest.raises(ValueError, match="trainable_layers=9; this model has 3"):
        freeze_layers(model, 9)


def test_multilabel_head_for_target_groups(tiny_bert, tmp_path):
    _, stats = train_classifier("encoder", tiny_bert, TARGET, TARGET_ROWS, TARGET_ROWS[:4], FAST, 0, tmp_path)
    assert stats["labels"] == ["immigrants", "women"]
    predictions = classifier_predictions(TARGET, tmp_path, TARGET_ROWS[:4], batch_size=4)
    assert all("scores" not in p and isinstance(p["pred"], str) for p in predictions)


def test_multilabel_task_scores_every_label_and_pairs_are_encoded_as_pairs(tiny_bert, tmp_path):
    from annotune.data.tasks import declared_task
    from annotune.systems.classifiers import encode, load_classifier

    task = declared_task("tags", "multilabel", ["bias", "calm", "unused"], None, {}, None)
    labels = ["bias", "bias", "calm", "calm"]
    train = [
        {
            "id": str(i),
            "input": f"{TEXTS[i % 4]} / {TEXTS[(i + 1) % 4]}",
            "input_pair": [TEXTS[i % 4], TEXTS[(i + 1) % 4]],
            "label": labels[i % 4],
        }
        for i in range(16)
    ]
    _, stats = train_classifier("encoder", tiny_bert, task, train, train[:4], FAST, 0, tmp_path)
    assert stats["labels"] == task.labels  # the declared labels, even one never seen in train
    predictions = classifier_predictions(task, tmp_path, train[:4], batch_size=4)
    assert all(set(p["scores"]) == set(task.labels) and task.as_set(p["pred"]) <= set(task.labels) for p in predictions)
    _, tokenizer, _ = load_classifier(tmp_path)
    encoded = encode(tokenizer, train[:1], 64)
    assert encoded["input_ids"][0].count(tokenizer.sep_token_id) == 2  # [CLS] a [SEP] b [SEP]


@pytest.mark.parametrize("quantization", ["none", "nf4"])
def test_llm_head_is_saved_with_the_adapter(tiny_llama, tmp_path, quantization):
    params = LlmHeadParams(quantization=quantization, epochs=2, batch_size=8, learning_rate=1e-2, r=4, alpha=8)
    trained, stats = train_classifier("llm_head", tiny_llama, BIAS, BIAS_ROWS, BIAS_ROWS[:4], params, 0, tmp_path)
    assert any("modules_to_save" in n and "score" in n for n, _ in trained.named_parameters())
    assert_reload_matches(trained, tmp_path)
    predictions = classifier_predictions(BIAS, tmp_path, BIAS_ROWS[:4], batch_size=2)
    assert all(sum(p["scores"].values()) == pytest.approx(1.0, abs=1e-5) for p in predictions)


TAGS_TASK_LABELS = ["Bias", "Calm", "Rare"]
# "Rare" on one training row of sixteen: its sigmoid stays below 0.5, so a fixed threshold never predicts it
TAGS_ROWS = text_rows(["Bias", "Bias", "Calm", "Calm"])
TAGS_ROWS[3] = {**TAGS_ROWS[3], "label": "Calm, Rare"}
TAGS_DEV = [{**r, "label": "Calm, Rare" if i == 3 else r["label"]} for i, r in enumerate(TAGS_ROWS[:4])]


def tags_task():
    from annotune.data.tasks import declared_task

    return declared_task("tags", "multilabel", TAGS_TASK_LABELS, None, {}, None)


def test_dev_thresholds_let_a_rare_label_be_predicted_and_are_stored_with_the_model(tiny_bert, tmp_path):
    import json

    from annotune.systems.classifiers import META_FILE
    from annotune.systems.predictors import load_system

    task = tags_task()
    train_classifier("encoder", tiny_bert, task, TAGS_ROWS, TAGS_DEV, FAST, 0, tmp_path)
    meta = json.loads((tmp_path / META_FILE).read_text())
    predictions = classifier_predictions(task, tmp_path, TAGS_DEV, batch_size=4)  # reloaded: stored thresholds
    rare = [p["scores"]["Rare"] for p in predictions]
    assert max(rare) < 0.5 and meta["thresholds"]["Rare"] == pytest.approx(rare[3], abs=1e-6)
    assert [p["pred"] for p in predictions][3] == "Calm, Rare"
    # the one loader predict, annotate, distill and estimate use: declared case kept, every label scored
    system = load_system(task, "encoder", tmp_path)
    assert system.predict(TAGS_DEV) == predictions
    assert all(set(p["scores"]) == set(TAGS_TASK_LABELS) for p in predictions)

    # a folder saved before thresholds existed predicts with 0.5: the rare label is never predicted
    del meta["thresholds"]
    (tmp_path / META_FILE).write_text(json.dumps(meta))
    old = classifier_predictions(task, tmp_path, TAGS_DEV, batch_size=4)
    assert [p["scores"] for p in old] == [p["scores"] for p in predictions]
    assert all("Rare" not in task.as_set(p["pred"]) for p in old)


def test_fixed_thresholds_and_balanced_positive_weights(tiny_bert, tmp_path):
    from annotune.systems.classifiers import _class_weights

    task = tags_task()
    params = EncoderParams(**{**FAST.__dict__, "multilabel_thresholds": "fixed", "class_weight": "balanced"})
    train_classifier("encoder", tiny_bert, task, TAGS_ROWS, TAGS_DEV, params, 0, tmp_path)
    assert load_classifier(tmp_path)[2]["thresholds"] == dict.fromkeys(TAGS_TASK_LABELS, 0.5)
    # negatives / positives per label: Bias 8 of 16, Calm 8, Rare 1
    assert _class_weights(task, TAGS_ROWS, TAGS_TASK_LABELS).tolist() == [1.0, 1.0, 15.0]
