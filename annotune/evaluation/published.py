"""Published reference figures the report prints next to ours, labelled as published, never recomputed.

Each row names its source; metric keys are the ones in metrics/eval/<task>.json so that the report can put
them in the same columns. Values are fractions (the report prints percentages).
"""

from __future__ import annotations

SBIC_PAPER = "Sap et al. (2020), Social Bias Frames, ACL: best model, SBIC test set"

# dataset -> task -> rows of {"system", "source", metric: value}
PUBLISHED_SYSTEMS: dict[str, dict[str, list[dict]]] = {
    "sbic": {
        "offensiveYN": [{"system": "SBIC paper, best model", "source": SBIC_PAPER, "binarized_f1": 0.788}],
        "targetMinority": [
            # the paper's BLEU may use other n-gram orders than our BLEU-2: compare the order of magnitude
            {"system": "SBIC paper, best model", "source": SBIC_PAPER, "bleu2": 0.779, "rouge_l": 0.687}
        ],
    },
}

GLUE_DEV = "MRPC dev set (not our test split), transformers' run_glue example and RoBERTa paper"
PUBLISHED_SYSTEMS["mrpc"] = {
    "paraphrase": [
        {"system": "BERT-base, dev", "source": GLUE_DEV, "accuracy": 0.841, "positive_f1": 0.889},
        {"system": "RoBERTa-base, dev", "source": GLUE_DEV, "accuracy": 0.902},
        {
            "system": "always 'paraphrase', dev",
            "source": "MRPC dev label counts",
            "accuracy": 0.684,
            "positive_f1": 0.812,
        },
    ],
}

# dataset -> agreement among the original annotators, averaged over all annotated questions
PUBLISHED_HUMAN: dict[str, dict] = {
    "sbic": {
        "source": "Sap et al. (2020), SBIC annotators, averaged over the annotated questions",
        "pairwise_agreement": 0.824,
        "krippendorff_alpha": 0.45,
    },
}
