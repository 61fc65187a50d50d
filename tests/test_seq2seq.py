"""seq2seq_lora on a tiny random T5 (built here, no download): training, saving and reloading, label scoring, and the
pipeline's ways in (predictors.load_system, base_model and baseline_train)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from ruamel.yaml import YAML

from annotune.config import Seq2seqParams
from annotune.data.io import write_jsonl
from annotune.data.tasks import get_task
from annotune.errors import ParamsError
from annotune.systems import seq2seq
from annotune.systems.models import SOURCE_FILE, resolve
from annotune.systems.predictors import load_system
from annotune.systems.prompts import answer_ids, instruct_record
from tests.conftest import make_tokenizer
from tests.helpers import OFFENSIVE as TASK
from tests.helpers import POSTS, records

ROOT = Path(__file__).resolve().parents[1]
PARAMS = Seq2seqParams(epochs=2, batch_size=4, learning_rate=5e-3)
GROUPS = get_task("sbic", "targetMinority")


def make_tiny_t5(folder: Path) -> Path:
    from transformers import T5Config, T5ForConditionalGeneration

    tokenizer = make_tokenizer(chat_template=False)
    torch.manual_seed(0)
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=32,
        d_kv=16,
        d_ff=64,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=2,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    T5ForConditionalGeneration(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory) -> Path:
    return make_tiny_t5(tmp_path_factory.mktemp("tiny_t5"))


@pytest.fixture(scope="module")
def trained(tiny_t5, tmp_path_factory):
    """(the model as trained, its folder) for offensiveYN."""
    out = tmp_path_factory.mktemp("seq2seq_lora")
    model, _ = seq2seq.train(TASK, tiny_t5, records(8), records(4), PARAMS, 0, out)
    return model.eval(), out


def decoder_logits(model, tokenizer, text: str, answer: str) -> torch.Tensor:
    source = torch.tensor([seq2seq.source_ids(tokenizer, TASK.instruction, text, PARAMS.max_input_tokens)])
    labels = torch.tensor([answer_ids(tokenizer, answer)])
    with torch.no_grad():
        return model(input_ids=source, labels=labels).logits


def test_saved_adapter_reloads_to_the_trained_model(trained, tiny_t5):
    from transformers import AutoModelForSeq2SeqLM

    model, out = trained
    reloaded, tokenizer, meta = seq2seq.load(out)
    expected = decoder_logits(model, tokenizer, POSTS[1], "yes")
    assert torch.equal(decoder_logits(reloaded, tokenizer, POSTS[1], "yes"), expected)
    # the adapter was trained and came back: without it the base gives other logits (LoRA B starts at zero)
    base = AutoModelForSeq2SeqLM.from_pretrained(tiny_t5).eval()
    assert not torch.allclose(decoder_logits(base, tokenizer, POSTS[1], "yes"), expected)
    assert (meta["task"], meta["labels"], meta["params"]["target_modules"]) == ("offensiveYN", TASK.labels, ["q", "v"])
    assert len(meta["stats"]["dev_loss_per_epoch"]) == PARAMS.epochs and meta["stats"]["train_seconds"] > 0
    assert meta["stats"]["train_loss"] > 0
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert adapter["task_type"] == "SEQ_2_SEQ_LM"
    assert (out / adapter["base_model_name_or_path"]).resolve() == tiny_t5.resolve()


def test_answer_scores_are_those_of_one_row_at_a_time(trained):
    """Batched, left-padded scoring against each source and answer scored alone, unpadded."""
    _, out = trained
    model, tokenizer, _ = seq2seq.load(out)
    sources = [seq2seq.source_ids(tokenizer, TASK.instruction, p, 64) for p in POSTS]
    answers = [answer_ids(tokenizer, TASK.verbalize(label)) for label in TASK.labels]
    batched = seq2seq.answer_logprobs(model, sources, answers, tokenizer.pad_token_id, batch_size=3)
    for row, source in enumerate(sources):
        for column, answer in enumerate(answers):
            alone = seq2seq.answer_logprobs(model, [source], [answer], tokenizer.pad_token_id, batch_size=1)
            assert batched[row, column].item() == pytest.approx(alone.item(), abs=1e-5)


def test_load_system_scores_every_label_into_a_valid_prediction(trained):
    _, out = trained
    system = load_system(TASK, "seq2seq_lora", out, batch_size=3)
    predictions = system.predict(records(5))
    for prediction in predictions:
        assert prediction["pred"] in TASK.labels and list(prediction["scores"]) == TASK.labels
        assert sum(prediction["scores"].values()) == pytest.approx(1.0, abs=1e-4)
        assert prediction["pred"] == max(prediction["scores"], key=prediction["scores"].get)
    assert system.predict(records(5)) == predictions and len(system.version) == 16


def test_groups_are_generated_and_parsed_like_the_other_systems(tiny_t5, tmp_path):
    rows = [
        instruct_record(GROUPS, {"id": str(i), "text": POSTS[i % 4], "labels": {GROUPS.name: group}})
        for i, group in enumerate(["women", "none", "black folks, women", "none"])
    ]
    seq2seq.train(GROUPS, tiny_t5, rows, rows[:2], Seq2seqParams(epochs=1, batch_size=2), 0, tmp_path)
    predictions = load_system(GROUPS, "seq2seq_lora", tmp_path, max_new_tokens=4).predict(rows)
    assert [p["id"] for p in predictions] == ["0", "1", "2", "3"]
    assert all(p["pred"] == GROUPS.parse_answer(p["text"]) and "scores" not in p for p in predictions)


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A project folder (params.yaml, a tiny instruct split) as the working directory."""
    folder = tmp_path / "project"
    (folder / "data").mkdir(parents=True)
    (folder / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    write_jsonl(folder / "data" / "train.jsonl", records(8))
    write_jsonl(folder / "data" / "dev.jsonl", records(4))
    monkeypatch.chdir(folder)
    return folder


def set_params(**models) -> None:
    params = YAML(typ="safe").load(Path("params.yaml").read_text())
    params["models"] |= models
    params["seq2seq"] |= {"epochs": 1, "batch_size": 4}
    YAML(typ="safe").dump(params, Path("params.yaml"))


def run_baseline_train(method: str = "seq2seq_lora") -> Path:
    from stages import baseline_train

    out = Path(f"models/baselines/offensiveYN/{method}")
    baseline_train.main(
        ["offensiveYN", method, "--data", "data", "--encoder", "none", "--llm", "none", "--seq2seq"]
        + ["models/base/seq2seq", "--out", str(out)]
    )
    return out


def test_no_seq2seq_model_declared_leaves_a_note_and_stops_its_system(project):
    from stages import base_model

    base_model.main(["seq2seq", "--out", "models/base/seq2seq"])
    assert [p.name for p in Path("models/base/seq2seq").iterdir()] == [SOURCE_FILE]
    assert json.loads(Path("models/base/seq2seq", SOURCE_FILE).read_text())["spec"] is None
    with pytest.raises(ParamsError, match="set models.seq2seq"):
        run_baseline_train()


def test_baseline_train_trains_the_declared_seq2seq_model(project, tiny_t5):
    set_params(seq2seq=str(tiny_t5))
    resolve(str(tiny_t5), Path("models/base/seq2seq"))
    out = run_baseline_train()
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == "../../../base/seq2seq"
    card = (out / "README.md").read_text()
    assert "library_name: peft" in card and "AutoModelForSeq2SeqLM" in card and "dev examples: 4" in card
    prediction = load_system(TASK, "seq2seq_lora").predict(records(1))[0]  # the registry's folder, from the project
    assert prediction["pred"] in TASK.labels
