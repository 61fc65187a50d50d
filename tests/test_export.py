"""Export: a LoRA adapter merged into the float32 base gives the logits of base + adapter; merged into
the base dequantized by transformers, the logits of the 4-bit model as trained. The folder carries a
model card and loads from any working directory."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest
import torch

from annotune.errors import DataError
from annotune.workflows.export import MERGE_ATOL, QuantizedBaseWarning, logit_difference, merge_adapter
from annotune.workflows.export import main as export_main
from tests.helpers import make_adapter


def test_merged_logits_match_base_plus_adapter(tmp_path, tiny_llama, monkeypatch):
    from huggingface_hub import ModelCard
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    adapter = make_adapter(tiny_llama, tmp_path / "adapter")
    with warnings.catch_warnings():
        warnings.simplefilter("error", QuantizedBaseWarning)  # a float32-trained adapter merges exactly
        merge_adapter(tiny_llama, adapter, tmp_path / "merged")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged").eval()  # a plain folder, no peft
    card = ModelCard.load(tmp_path / "merged" / "README.md")
    assert (card.data.library_name, card.data.pipeline_tag) == ("transformers", "text-generation")
    assert "AutoModelForCausalLM.from_pretrained" in card.text and "merged into the float32 base" in card.text
    assert not list((tmp_path / "merged").glob("adapter_*"))
    base = AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=torch.float32)
    unmerged = PeftModel.from_pretrained(base, adapter).eval()
    ids = torch.randint(0, merged.config.vocab_size, (3, 17), generator=torch.Generator().manual_seed(0))
    assert logit_difference(merged, unmerged, ids) <= MERGE_ATOL
    plain = AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=torch.float32).eval()
    assert logit_difference(merged, plain, ids) > 100 * MERGE_ATOL  # the adapter did change the model
    meta = json.loads((tmp_path / "merged" / "annotune_merged.json").read_text())
    assert meta["approximate"] is False and meta["adapter_trained_on"] == "none"


def test_merging_a_4bit_trained_adapter_warns(tmp_path, tiny_llama):
    adapter = make_adapter(tiny_llama, tmp_path / "adapter", runtime_quantization="nf4")
    with pytest.warns(QuantizedBaseWarning, match="trained on a nf4 base; merging it into the float32 base is approx"):
        merge_adapter(tiny_llama, adapter, tmp_path / "merged")
    assert json.loads((tmp_path / "merged" / "annotune_merged.json").read_text())["approximate"] is True


def test_missing_adapter_is_named(tmp_path, tiny_llama):
    with pytest.raises(FileNotFoundError, match="adapter_config.json not found"):
        merge_adapter(tiny_llama, tmp_path / "nothing", tmp_path / "merged")


def test_dequantized_merge_reproduces_the_4bit_model_as_trained(tmp_path, tiny_llama):
    """An adapter on a 4-bit NF4 base: merged into the dequantized base it gives the QLoRA model's logits;
    merged into the float32 base it does not (what the warning is about)."""
    from peft import LoraConfig, PeftModel, get_peft_model

    from annotune.systems.models import Runtime, load_causal_lm

    runtime = Runtime(device="cpu", compute_dtype="float32", quantization="nf4")
    torch.manual_seed(1)
    config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False, task_type="CAUSAL_LM")
    adapter = tmp_path / "adapter"
    get_peft_model(load_causal_lm(tiny_llama, runtime), config).save_pretrained(adapter)
    (adapter / "annotune.json").write_text(json.dumps({"runtime": runtime.__dict__, "qlora": {"double_quant": True}}))

    as_trained = PeftModel.from_pretrained(load_causal_lm(tiny_llama, runtime), adapter).eval()
    exact = merge_adapter(tiny_llama, adapter, tmp_path / "dequantized", dequantize=True)
    with pytest.warns(QuantizedBaseWarning):
        approximate = merge_adapter(tiny_llama, adapter, tmp_path / "float")
    from transformers import AutoModelForCausalLM

    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "dequantized").eval()
    ids = torch.randint(0, reloaded.config.vocab_size, (2, 13), generator=torch.Generator().manual_seed(0))
    assert logit_difference(reloaded, as_trained, ids) <= 1e-3
    assert logit_difference(exact, reloaded, ids) <= MERGE_ATOL
    assert logit_difference(approximate, as_trained, ids) > 10 * logit_difference(reloaded, as_trained, ids)
    meta = json.loads((tmp_path / "dequantized" / "annotune_merged.json").read_text())
    assert meta["approximate"] is False and meta["merged_into"] == "dequantized 4-bit base"
    assert "only approximates" in (tmp_path / "float" / "README.md").read_text()
    assert "only approximates" not in (tmp_path / "dequantized" / "README.md").read_text()


# ------------------------------------------------------------------------------------ what export refuses


def forbid_model_loads(monkeypatch):
    """From here on, any model load fails the test: what is checked is refused before."""
    from transformers import AutoModelForCausalLM

    def load(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", load)


def snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_export_refuses_to_replace_what_it_did_not_write(tmp_path, tiny_llama, monkeypatch):
    adapter = make_adapter(tiny_llama, tmp_path / "adapter")
    forbid_model_loads(monkeypatch)
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "thesis.tex").write_text("years of work")
    (tmp_path / "a_file").write_text("keep me")
    work = tmp_path / "project" / "work"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    before = snapshot(tmp_path)
    refusals = {
        notes: "a folder that is not empty and not an earlier export (no annotune_merged.json)",
        tmp_path / "a_file": "is a file, not a folder",
        adapter: "overlaps the adapter folder",
        adapter / "merged": "overlaps the adapter folder",
        tiny_llama / "merged": "overlaps the base model folder",
        work: "the working folder",
        tmp_path / "project": "the working folder",
    }
    for out, message in refusals.items():
        with pytest.raises(DataError) as caught:
            merge_adapter(tiny_llama, adapter, out)
        assert message in str(caught.value) and "\n" not in str(caught.value)
    assert snapshot(tmp_path) == before
    assert not (adapter / "merged").exists() and not (tiny_llama / "merged").exists()


def test_an_adapter_of_another_task_is_refused(tmp_path, tiny_llama, monkeypatch):
    adapter = make_adapter(tiny_llama, tmp_path / "adapter")
    forbid_model_loads(monkeypatch)
    (adapter / "annotune.json").write_text(json.dumps({"task": "offensiveYN", "runtime": {"quantization": "none"}}))
    command = [
        "hasBiasedImplication",
        "--adapter",
        str(adapter),
        "--base",
        str(tiny_llama),
        "--out",
        str(tmp_path / "m"),
    ]
    with pytest.raises(DataError, match="a model of task 'offensiveYN' .*, not of 'hasBiasedImplication'"):
        export_main(command)
    assert not (tmp_path / "m").exists()


def test_a_failed_export_leaves_the_earlier_one_as_it_was(tmp_path, tiny_llama, monkeypatch):
    import annotune.workflows.export

    adapter = make_adapter(tiny_llama, tmp_path / "adapter")
    out = tmp_path / "exports" / "merged"
    out.mkdir(parents=True)  # an empty folder is taken
    merge_adapter(tiny_llama, adapter, out)
    earlier = snapshot(out)
    assert "annotune_merged.json" in earlier and "model.safetensors" in earlier

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(annotune.workflows.export, "write_merged_card", fail)
        with pytest.raises(RuntimeError, match="disk full"):
            merge_adapter(tiny_llama, adapter, out)
    assert snapshot(out) == earlier
    assert sorted(p.name for p in out.parent.iterdir()) == ["merged"]  # no half-written sibling left

    (out / "stale.txt").write_text("from the earlier export")
    merge_adapter(tiny_llama, adapter, out)  # an earlier export is replaced whole
    assert not (out / "stale.txt").exists() and (out / "annotune_merged.json").exists()
    assert sorted(p.name for p in out.parent.iterdir()) == ["merged"]
    (tmp_path / "plain").mkdir()
    assert out.stat().st_mode == (tmp_path / "plain").stat().st_mode  # made as any folder, not a private one


def test_an_undeclared_task_is_named_before_any_file_is_read(tmp_path, monkeypatch):
    from annotune.errors import ParamsError

    shutil.copy(Path(__file__).resolve().parents[1] / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ParamsError, match="task 'madeUpTask' is not defined for dataset 'sbic'"):
        export_main(["madeUpTask", "--out", str(tmp_path / "merged")])
    assert not (tmp_path / "merged").exists()
