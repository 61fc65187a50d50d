"""Few-shot exemplar selection is deterministic and never shows the model the row it answers."""

from annotune.prompts import SimilarExemplars, render_prompt, stratified_exemplars
from tests.conftest import make_tokenizer

POOL = [
    {"id": f"p{i}", "input": text, "output": out, "label": label}
    for i, (text, out, label) in enumerate(
        [
            ("women are bad drivers", "yes", "implied_bias"),
            ("immigrants steal jobs", "yes", "implied_bias"),
            ("lovely weather today", "no", "no_implied_bias"),
            ("my dog loves the park", "no", "no_implied_bias"),
            ("coffee is great", "no", "no_implied_bias"),
        ]
    )
]


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
