"""The one schema of a model folder's ``annotune.json``: what trained the folder, validated on read.

Every system that trains a folder writes one (its kind's ``train``; the distilled and augmented encoders through
``annotune/systems/encoder_variant.py``). The shapes are those the pipeline has always written, one model with a section
per kind: every kind writes ``task``, ``labels``, ``stats`` and ``training_data``; the QLoRA adapter adds
``qlora`` (its params section), ``runtime``, ``dataset``, ``seed`` and ``base``; the other trained kinds ``method``
(what they trained), ``params`` (their params section) and, on a base model, ``base``; a distilled encoder its
``labeller``, an augmented one its ``augment`` settings. A key no kind writes is kept (``extra="allow"``), so an
older or hand-made folder still reads. Writing goes through :func:`write` (``config.save_resolved``: sorted keys,
the bytes the pipeline has always written).

Pure pydantic: read without torch (predict reads the training time, evaluate the thresholds' source).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from annotune.errors import DataError

META_FILE = "annotune.json"


class RuntimeMeta(BaseModel):
    """Where and how the adapter was trained (annotune.systems.models.Runtime): it predicts the same way."""

    model_config = ConfigDict(extra="allow", frozen=True)

    device: str | None = None  # None: a hand-made file that leaves it out (loading the adapter then needs it)
    compute_dtype: str | None = None
    quantization: str | None = None


class AdapterSection(BaseModel):
    """The ``qlora`` params section the adapter was trained with: what prediction and export read of it."""

    model_config = ConfigDict(extra="allow", frozen=True)

    max_input_tokens: int | None = None
    double_quant: bool = True


class ModelMeta(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    task: str | None = None
    labels: list[str] | None = None
    dataset: str | None = None
    base: dict[str, Any] | None = None  # the base model's annotune_source.json (id, revision, licence)
    seed: int | None = None
    method: str | None = None  # what a baseline, classifier or seq2seq folder trained (its system's recipe)
    params: dict[str, Any] | None = None  # the params section it read (baselines, encoder, llm_head, seq2seq)
    qlora: AdapterSection | None = None  # the adapter's params section
    runtime: RuntimeMeta | None = None  # the adapter's resolved runtime
    stats: dict[str, Any] = Field(default_factory=dict)
    training_data: dict[str, Any] | None = None  # io.data_fingerprints of the rows it trained on
    labeller: str | None = None  # a distilled encoder: the system whose labels it learned
    augment: dict[str, Any] | None = None  # an augmented encoder: the augment settings

    @property
    def train_seconds(self) -> float:
        """The training time the folder recorded (0 where none)."""
        return float(self.stats.get("train_seconds", 0.0))

    @classmethod
    def path(cls, folder: Path) -> Path:
        return Path(folder) / META_FILE

    @classmethod
    def exists(cls, folder: Path) -> bool:
        return cls.path(folder).is_file()

    @classmethod
    def read(cls, folder: Path) -> ModelMeta:
        """The folder's annotune.json, validated; a folder without one reads as empty (a base LLM, a model trained
        elsewhere)."""
        import json

        from pydantic import ValidationError

        path = cls.path(folder)
        if not path.is_file():
            return cls()
        try:
            return cls.model_validate(json.loads(path.read_text()))
        except (ValidationError, json.JSONDecodeError) as error:
            raise DataError(f"{path}: not an annotune.json annotune can read: {error}") from None


def write(folder: Path, **sections: Any) -> None:
    """Write ``folder``'s annotune.json (sections: params dataclasses or plain values); validated first, written
    exactly as ``config.save_resolved`` writes (sorted keys), so the bytes do not depend on this schema."""
    import dataclasses

    from annotune.config import save_resolved

    ModelMeta.model_validate(
        {k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for k, v in sections.items()}
    )
    save_resolved(ModelMeta.path(folder), **sections)
