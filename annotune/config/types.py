"""The annotated field types and constants every section of params.yaml is declared with: strict numbers and
switches (``Int``, ``Float``, ``Bool``, ``Positive``, ``NonNegative``), ranges (``Rate``, ``Fraction``), the allowed
choices (``Device``, ``ComputeDtype``, ``Quantization``, ``ClassWeight``, ``AttributeKind``, ``LabelThresholds``)
and ``SECTION``, the pydantic config each section dataclass shares."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BeforeValidator, ConfigDict, Field, Strict

# Every section rejects unknown keys; frozen: params are read, never changed, once loaded.
SECTION = ConfigDict(extra="forbid")
# Numbers and switches are strict (pydantic's ``Strict``): ``seed: true`` or ``max_train: "300"`` is an error naming
# the key, not 1 or 300. (A whole-config strict mode would refuse the nested sections given as mappings.)
SCIENTIFIC = re.compile(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+")


def _yaml_float(value):
    # YAML 1.1 reads 2e-4 (no dot) as text: take a string in scientific notation as the number it means
    return float(value) if isinstance(value, str) and SCIENTIFIC.fullmatch(value.strip()) else value


Int = Annotated[int, Strict()]
Float = Annotated[float, BeforeValidator(_yaml_float), Strict()]  # a whole number is still a valid float
Bool = Annotated[bool, Strict()]
Positive = Annotated[int, Strict(), Field(ge=1)]
NonNegative = Annotated[int, Strict(), Field(ge=0)]
Rate = Annotated[Float, Field(gt=0)]  # learning rates, regularization strengths
Fraction = Annotated[Float, Field(ge=0, le=1)]
Device = Literal["auto", "cpu", "cuda"]
ComputeDtype = Literal["auto", "float32", "bfloat16", "float16"]
Quantization = Literal["nf4", "int8", "none"]
ClassWeight = Literal["balanced"] | None
AttributeKind = Literal["categorical", "numeric"]
# multi-label heads: dev = each label's decision threshold maximizes its F1 on the dev split (stored with the model);
# fixed = 0.5 for every label
LabelThresholds = Literal["dev", "fixed"]
