"""A training run interrupted midway resumes from its last checkpoint and ends with the adapter and
dev losses of an uninterrupted run with the same seed."""

import dataclasses
import shutil

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from annotune.config import QloraParams
from annotune.systems.models import resolve_runtime
from annotune.systems.training import checkpoint_root, train_qlora
from tests.helpers import records


class InterruptAfterSave(TrainerCallback):
    """Ctrl-C right after the checkpoint of step ``step`` is written."""

    def __init__(self, step: int):
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt


@pytest.mark.parametrize("quantization", ["none", "nf4"])
def test_interrupted_run_resumes_to_the_same_adapter(tiny_llama, tmp_path, quantization):
    runtime = resolve_runtime("cpu", "float32", quantization)
    # 16 examples, batch 4, 2 epochs: 8 steps; interrupted at step 6, inside the second epoch
    params = QloraParams(
        quantization=quantization,
        r=4,
        alpha=8,
        dropout=0.1,
        epochs=2,
        batch_size=4,
        learning_rate=1e-2,
        checkpoint_steps=2,
    )
    train, dev = records(16), records(4)

    def train_run(name, run_params, callbacks=()):
        return train_qlora(
            tiny_llama,
            train,
            dev,
            run_params,
            runtime,
            0,
            tmp_path / name,
            tmp_path / f"live_{name}",
            callbacks=callbacks,
        )[1]

    # the reference saves no checkpoint at all: saving must not change the run either
    straight = train_run("straight", dataclasses.replace(params, checkpoint_steps=0))
    assert straight["resumed_from_step"] is None and straight["optimizer_steps"] == 8

    with pytest.raises(KeyboardInterrupt):
        train_run("resumed", params, [InterruptAfterSave(6)])
    (run_dir,) = checkpoint_root().iterdir()
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoint-6"]  # only the last one is kept
    shutil.rmtree(tmp_path / "live_resumed")  # as DVC does with a stage's outputs before rerunning it
    resumed = train_run("resumed", params)

    assert resumed["resumed_from_step"] == 6 and resumed["optimizer_steps"] == 8
    assert resumed["dev_loss_per_epoch"] == pytest.approx(straight["dev_loss_per_epoch"], abs=1e-6)
    expected = load_file(tmp_path / "straight" / "adapter_model.safetensors")
    got = load_file(tmp_path / "resumed" / "adapter_model.safetensors")
    assert expected.keys() == got.keys()
    for name, tensor in expected.items():
        torch.testing.assert_close(got[name], tensor, atol=1e-6, rtol=0)
    assert not run_dir.exists()
    for curve in ("loss", "eval/loss", "learning_rate"):  # the training curve, restored up to the checkpoint
        steps_and_values = [
            [
                line.split("\t")[1:]
                for line in (tmp_path / f"live_{name}/plots/metrics/{curve}.tsv").read_text().splitlines()
            ]
            for name in ("straight", "resumed")
        ]
        assert steps_and_values[0] == steps_and_values[1] and len(steps_and_values[0]) > 2


def test_a_changed_configuration_does_not_resume_another_runs_checkpoint(tiny_llama, tmp_path):
    runtime = resolve_runtime("cpu", "float32", "none")
    params = QloraParams(quantization="none", r=4, alpha=8, epochs=1, batch_size=4, checkpoint_steps=2)
    with pytest.raises(KeyboardInterrupt):
        train_qlora(
            tiny_llama,
            records(16),
            records(4),
            params,
            runtime,
            0,
            tmp_path / "a",
            tmp_path / "live",
            callbacks=[InterruptAfterSave(2)],
        )
    stats = train_qlora(tiny_llama, records(16), records(4), params, runtime, 1, tmp_path / "b", tmp_path / "live")[1]
    assert stats["resumed_from_step"] is None  # another seed: a different run
