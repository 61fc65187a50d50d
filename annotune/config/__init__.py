"""params.yaml loading and validation: every section is a (pydantic) dataclass, so a typo, a wrong type or a
value out of range fails when params load, before any data is read, with the key, the file and the value.

The defaults here are params.yaml's values (tests/test_config.py checks they agree): a params file that leaves a
key out gets what the repository's params.yaml says.

The modules, by concern (import from ``annotune.config``; every public name is re-exported here):

- ``types``: the annotated field types and constants the sections are declared with (``Int``, ``Float``, ``Bool``,
  ``Positive``, ``NonNegative``, ``Rate``, ``Fraction``, ``Device``, ``ComputeDtype``, ``Quantization``,
  ``ClassWeight``, ``AttributeKind``, ``LabelThresholds``) and ``SECTION``, the config every section shares;
- ``sections``: the per-stage sections, one dataclass each (``ModelsParams``, ``PrepareParams``, ``QloraParams``
  ... ``EstimateParams``);
- ``table``: ``dataset: table``'s declared schema (``TableParams``, ``TableTaskParams``, ``SplitFractions``) and
  the reading of its data cells (``RawValue``, ``raw_key``, ``attribute_values``, ``EMPTY_CATEGORY``);
- ``params``: the whole file, ``Params``, and ``build``, ``read_params_file``, ``load_params`` (the checks across
  sections), ``save_resolved``, ``PARAMS_FILE``.
"""

from annotune.config.params import PARAMS_FILE, Params, build, load_params, read_params_file, save_resolved
from annotune.config.sections import (
    AnnotateParams,
    AugmentParams,
    BaselinesParams,
    CostParams,
    DistillParams,
    EncoderParams,
    EstimateParams,
    EvaluateParams,
    LlmHeadParams,
    ModelsParams,
    PredictParams,
    PrepareParams,
    PromptingParams,
    QloraParams,
    Seq2seqParams,
    SystemsParams,
)
from annotune.config.table import (
    EMPTY_CATEGORY,
    RawValue,
    SplitFractions,
    TableParams,
    TableTaskParams,
    attribute_values,
    raw_key,
)
from annotune.config.types import (
    SCIENTIFIC,
    SECTION,
    AttributeKind,
    Bool,
    ClassWeight,
    ComputeDtype,
    Device,
    Float,
    Fraction,
    Int,
    LabelThresholds,
    NonNegative,
    Positive,
    Quantization,
    Rate,
)
from annotune.errors import ParamsError

__all__ = [
    "EMPTY_CATEGORY",
    "PARAMS_FILE",
    "SCIENTIFIC",
    "SECTION",
    "AnnotateParams",
    "AttributeKind",
    "AugmentParams",
    "BaselinesParams",
    "Bool",
    "ClassWeight",
    "ComputeDtype",
    "CostParams",
    "Device",
    "DistillParams",
    "EncoderParams",
    "EstimateParams",
    "EvaluateParams",
    "Float",
    "Fraction",
    "Int",
    "LabelThresholds",
    "LlmHeadParams",
    "ModelsParams",
    "NonNegative",
    "Params",
    "ParamsError",
    "Positive",
    "PredictParams",
    "PrepareParams",
    "PromptingParams",
    "QloraParams",
    "Quantization",
    "Rate",
    "RawValue",
    "Seq2seqParams",
    "SplitFractions",
    "SystemsParams",
    "TableParams",
    "TableTaskParams",
    "attribute_values",
    "build",
    "load_params",
    "raw_key",
    "read_params_file",
    "save_resolved",
]
