"""Few-shot exemplar selection is deterministic and never shows the model the row it answers."""

from annotune.systems.prompts import (
    SimilarExemplars,
    boundary_exemplars,
    boundary_margins,
    render_prompt,
    stratified_exemplars,
)
from tests.conftest import make_tokenizer
from tests.helpers import POOL


def test_stratified_exemplars_cover_labels_and_are_seeded():
    chosen = stratified_exemplars(POOL, 4, seed=1)
    assert stratified_exemplars(POOL, 4, seed=1) == chosen
    assert sorted(e["label"] for e in chosen) == ["implied_bias", "implied_bias", "no_implied_bias", "no_implied_bias"]
    assert len(stratified_exemplars(POOL, 10, seed=1)) == len(POOL)


def test_similar_exemplars_exclude_the_row_itself():
    select = SimilarExemplars(POOL)
    row = dict(POOL[0])  # a test row that is also in the pool
    chosen = select(row, 2)
    assert all(e["id"] != row["id"] and e["input"] != row["input"] for e in chosen)
    assert chosen == select(row, 2)
    near = select({"id": "new", "input": "my dog loves the beach"}, 2)
    assert near[-1]["id"] == "p3"  # the most similar sits next to the question


def test_exemplars_render_as_earlier_turns():
    tokenizer = make_tokenizer()
    prompt = render_prompt(tokenizer, "Is it biased?", "new post", POOL[:2])
    assert prompt.count("<|im_start|>user") == 3 and prompt.count("<|im_start|>assistant") == 3
    assert prompt.index("women are bad drivers") < prompt.index("new post")
    plain = render_prompt(make_tokenizer(chat_template=False), "Is it biased?", "new post", POOL[:1])
    assert plain.count("### Instruction:") == 2 and plain.endswith("### Response:\n")


# "hate" marks the biased posts and "love" the others; the posts with both sit nearest the boundary (one of them
# twice: the same margin, so the tie goes to the smaller id)
BOUNDARY_POOL = [
    {"id": i, "input": text, "output": label, "label": label}
    for i, label, text in [
        ("p0", "implied_bias", "hate hate women"),
        ("p1", "implied_bias", "hate hate immigrants"),
        ("p2", "implied_bias", "hate hate them all"),
        ("p3", "no_implied_bias", "love love dogs"),
        ("p4", "no_implied_bias", "love love parks"),
        ("p7", "no_implied_bias", "love love coffee"),
        ("p9", "implied_bias", "hate and love dogs"),
        ("p5", "implied_bias", "hate and love dogs"),
        ("p6", "no_implied_bias", "love and hate coffee"),
    ]
]


def test_boundary_exemplars_are_the_smallest_margin_posts_of_each_label():
    margins = dict(zip((r["id"] for r in BOUNDARY_POOL), boundary_margins(BOUNDARY_POOL, seed=0), strict=True))
    assert margins["p5"] == margins["p9"] < min(margins[i] for i in ("p0", "p1", "p2"))
    assert margins["p6"] < min(margins[i] for i in ("p3", "p4", "p7"))
    chosen = boundary_exemplars(BOUNDARY_POOL, 2, seed=0)
    assert sorted(e["id"] for e in chosen) == ["p5", "p6"]  # one per label, p5 before its twin p9
    assert boundary_exemplars(BOUNDARY_POOL, 2, seed=0) == chosen
    assert sorted(e["id"] for e in boundary_exemplars(BOUNDARY_POOL, 4, seed=0)) == ["p3", "p5", "p6", "p9"]
    assert len(boundary_exemplars(BOUNDARY_POOL, 20, seed=0)) == len(BOUNDARY_POOL)
    one_label = [r for r in POOL if r["label"] == "no_implied_bias"]  # no boundary: stratified
    assert boundary_exemplars(one_label, 2, seed=0) == stratified_exemplars(one_label, 2, seed=0)
