"""The shared-prefix rule has one home (prompts.common_prefix_length): scoring's and packed training's prefixes
are exactly what their own former rules gave, on random token sequences and on the edge cases."""

import random

import pytest

from annotune.systems.packing import IGNORE_INDEX, PackCollator
from annotune.systems.prompts import common_prefix_length
from annotune.systems.scoring import shared_prefix_length


def scoring_rule(sequences: list[list[int]]) -> int:
    """scoring.shared_prefix_length as it was before the rule moved to prompts.py."""
    shortest = min(len(s) for s in sequences)
    length = 0
    while length < shortest - 1 and all(s[length] == sequences[0][length] for s in sequences):
        length += 1
    return length


def packing_rule(batch: list[dict]) -> int:
    """PackCollator.shared_prefix_length as it was before the rule moved to prompts.py."""
    if len(batch) < 2:
        return 0
    first = batch[0]["input_ids"]
    limit = min(
        next(p for p, label in enumerate(e["labels"]) if label != IGNORE_INDEX) - 1
        if any(label != IGNORE_INDEX for label in e["labels"])
        else len(e["input_ids"])
        for e in batch
    )
    length = 0
    while length < limit and all(e["input_ids"][length] == first[length] for e in batch):
        length += 1
    return length


def example(prompt: list[int], answer: list[int]) -> dict:
    """As build_examples makes them: the answer learned, the prompt masked."""
    return {"input_ids": prompt + answer, "labels": [IGNORE_INDEX] * len(prompt) + answer}


def random_sequences(rng: random.Random) -> list[list[int]]:
    """A few sequences sharing a random prefix, then random tails over a small vocabulary (chance matches too)."""
    vocabulary = rng.choice([2, 3, 50])
    prefix = [rng.randrange(vocabulary) for _ in range(rng.randrange(0, 12))]
    tails = [[rng.randrange(vocabulary) for _ in range(rng.randrange(0, 8))] for _ in range(rng.randrange(1, 6))]
    return [prefix + tail for tail in tails]


def random_batch(rng: random.Random) -> list[dict]:
    batch = []
    for ids in random_sequences(rng):
        if rng.random() < 0.75:  # a prompt and an answer (possibly empty: no label != IGNORE_INDEX)
            cut = rng.randrange(len(ids) // 2, len(ids) + 1)
            batch.append(example(ids[:cut], ids[cut:]))
        else:  # any labels at all, masked or not, position by position
            batch.append({"input_ids": ids, "labels": [t if rng.random() < 0.1 else IGNORE_INDEX for t in ids]})
    return batch


def test_scoring_prefix_is_the_former_rule_on_random_sequences():
    rng = random.Random(1234)
    for _ in range(3000):
        sequences = random_sequences(rng)
        assert shared_prefix_length(sequences) == scoring_rule(sequences), sequences


def test_packed_prefix_is_the_former_rule_on_random_batches():
    rng = random.Random(4321)
    for _ in range(3000):
        batch = random_batch(rng)
        assert PackCollator.shared_prefix_length(batch) == packing_rule(batch), batch


SEQUENCES = {
    "one sequence": [[5, 6, 7]],
    "one empty sequence": [[]],
    "an empty sequence among others": [[5, 6], []],
    "identical": [[5, 6, 7, 8]] * 3,
    "one a prefix of the other": [[5, 6], [5, 6, 7, 8]],
    "the other a prefix of the one": [[5, 6, 7, 8], [5, 6]],
    "single tokens": [[5], [5]],
    "nothing shared": [[5, 6], [6, 6]],
}


@pytest.mark.parametrize("sequences", SEQUENCES.values(), ids=SEQUENCES.keys())
def test_scoring_prefix_edge_cases(sequences):
    assert shared_prefix_length(sequences) == scoring_rule(sequences)


BATCHES = {
    "no examples": [],
    "one example": [example([1, 2, 3], [4])],
    "empty answers only": [example([1, 2, 3], []), example([1, 2, 3, 4], [])],
    "an empty answer beside a real one": [example([1, 2, 3, 9], []), example([1, 2, 3], [4, 5])],
    "identical": [example([1, 2, 3], [4, 5])] * 3,
    "identical, empty answers": [example([1, 2, 3], [])] * 2,
    "one prompt a prefix of the other": [example([1, 2], [7]), example([1, 2, 3, 4], [7])],
    "one example a prefix of the other": [example([1, 2], []), example([1, 2, 3], [4])],
    "answer from the first token": [example([], [1, 2]), example([], [1, 2])],
    "nothing shared": [example([1, 2], [3]), example([2, 2], [3])],
}


@pytest.mark.parametrize("batch", BATCHES.values(), ids=BATCHES.keys())
def test_packed_prefix_edge_cases(batch):
    assert PackCollator.shared_prefix_length(batch) == packing_rule(batch)


def test_common_prefix_length_stops_at_the_limit_and_the_shortest():
    assert common_prefix_length([[1, 2, 3], [1, 2, 3]], 2) == 2
    assert common_prefix_length([[1, 2, 3], [1, 2]], 10) == 2
    assert common_prefix_length([[1, 2, 3], [1, 9, 3]], 10) == 1
    assert common_prefix_length([[1, 2, 3]], 10) == 3
    assert common_prefix_length([[1, 2, 3], [1, 2, 3]], -1) == 0
