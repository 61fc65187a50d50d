"""Target-group generation: group-set scores, BLEU-2, ROUGE-L and top-group recall."""

from __future__ import annotations

from collections import Counter

import numpy as np
from sklearn.metrics import accuracy_score

from annotune.data.tasks import NONE_TARGET, group_set, normalize_groups
from annotune.evaluation.metrics.formatting import plain_numbers


def set_scores(gold: frozenset[str], pred: frozenset[str]) -> tuple[float, float, float]:
    """Precision, recall, F1 of one predicted group set; 'no group' counts as the answer 'none'."""
    gold = gold or frozenset({NONE_TARGET})
    pred = pred or frozenset({NONE_TARGET})
    hits = len(gold & pred)
    precision, recall = hits / len(pred), hits / len(gold)
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return precision, recall, f1


def generation_metrics(predictions: list[dict]) -> dict:
    rows = [(group_set(p["gold"]), group_set(p["pred"])) for p in predictions]
    scores = np.array([set_scores(g, p) for g, p in rows]) if rows else np.zeros((0, 3))
    has_gold = [bool(g) for g, _ in rows]
    has_pred = [bool(p) for _, p in rows]
    return plain_numbers(
        {
            "n": len(rows),
            "exact_match": float(np.mean([g == p for g, p in rows])) if rows else 0.0,
            "set_precision": float(scores[:, 0].mean()) if rows else 0.0,
            "set_recall": float(scores[:, 1].mean()) if rows else 0.0,
            "set_f1": float(scores[:, 2].mean()) if rows else 0.0,
            "targets_any_group_accuracy": accuracy_score(has_gold, has_pred) if rows else 0.0,
        }
    )


def tokens(text: str) -> list[str]:
    """Words of a group answer; the commas between groups are not words."""
    return text.lower().replace(",", " ").split()


class _Words:
    """rouge-score's tokenizer interface over text already split by ``tokens``: its default one would also
    split hyphenated group names ("non-white") that BLEU keeps whole."""

    @staticmethod
    def tokenize(text: str) -> list[str]:
        return text.split()


def sentence_bleu(hypothesis: list[str], references: list[list[str]], max_n: int = 2) -> float:
    """sacrebleu's sentence BLEU of one hypothesis against several references: clipped n-gram precision up to
    ``max_n``, brevity penalty from the closest reference length, add-one smoothing for n > 1 (Lin & Och, 2004)
    so that a one-word answer is not scored 0 for lacking bigrams. Group names are one to three words, hence
    BLEU-2."""
    import logging

    from sacrebleu.metrics import BLEU

    if not hypothesis or not references:
        return 0.0
    # effective_order would score a one-word answer on unigrams alone; the smoothing above is the SBIC choice
    logging.getLogger("sacrebleu").setLevel(logging.ERROR)
    bleu = BLEU(max_ngram_order=max_n, smooth_method="add-k", smooth_value=1, tokenize="none", effective_order=False)
    return bleu.sentence_score(" ".join(hypothesis), [" ".join(r) for r in references]).score / 100


def rouge_l(hypothesis: list[str], reference: list[str]) -> float:
    """rouge-score's ROUGE-L F1 (longest common subsequence over the hypothesis and reference lengths)."""
    from rouge_score.rouge_scorer import RougeScorer

    if not hypothesis or not reference:
        return 0.0
    scorer = RougeScorer(["rougeL"], tokenizer=_Words())
    return scorer.score(" ".join(reference), " ".join(hypothesis))["rougeL"].fmeasure


def reference_generation_scores(predictions: list[dict], annotations: list[list] | None) -> dict:
    """BLEU-2 and ROUGE-L (best reference) of the group answer, as the SBIC paper scores its generated
    targeted group: over the posts whose gold targets a group, the references being every annotator's
    answer that names one (the gold answer where a post has no annotations)."""
    bleu, rouge = [], []
    for prediction, labels in zip(predictions, annotations or [None] * len(predictions), strict=True):
        if not group_set(prediction["gold"]):
            continue
        answers = [normalize_groups(a) for a in labels or [] if a is not None] or [prediction["gold"]]
        references = [tokens(a) for a in answers if a != NONE_TARGET] or [tokens(prediction["gold"])]
        hypothesis = tokens(normalize_groups(prediction["pred"]))
        bleu.append(sentence_bleu(hypothesis, references))
        rouge.append(max(rouge_l(hypothesis, r) for r in references))
    return {
        "targeted_posts": len(bleu),
        "bleu2": float(np.mean(bleu)) if bleu else float("nan"),
        "rouge_l": float(np.mean(rouge)) if rouge else float("nan"),
    }


def top_group_recall(predictions: list[dict], k: int = 10) -> dict:
    """Recall of each of the ``k`` groups most often named in the gold (ties by name): the share of the
    posts targeting that group whose predicted set names it; and their unweighted mean."""
    rows = [(group_set(p["gold"]), group_set(p["pred"])) for p in predictions]
    frequency = Counter(g for gold, _ in rows for g in gold)
    top = sorted(frequency, key=lambda g: (-frequency[g], g))[:k]
    recall = {g: float(np.mean([g in pred for gold, pred in rows if g in gold])) for g in top}
    return {
        f"top{k}_group_recall": float(np.mean(list(recall.values()))) if recall else float("nan"),
        "group_recall": {g: {"recall": recall[g], "support": frequency[g]} for g in top},
    }
