"""The LLM as a data augmenter: requests, sampling on a tiny random Llama, the filters and their counts."""

import copy
import dataclasses

import pytest

from annotune.data.tasks import get_task
from annotune.errors import ParamsError
from annotune.systems.augment import REASONS, build_requests, diversity, filter_candidates, generate, normalize, post_of
from annotune.systems.models import load_causal_lm, load_tokenizer, resolve_runtime
from annotune.systems.prompts import instruct_record

TASK = get_task("sbic", "offensiveYN")
POSTS = {
    "offensive": ["Those people are all lazy and stupid.", "Go back to where you came from.", "Typical of them."],
    "not_offensive": ["I love my neighbours and their dogs.", "What a beautiful day at the beach."],
}
TEST_POST = "Nobody wants you here, you people ruin everything!"


@dataclasses.dataclass(frozen=True)
class Params:
    """A stand-in for config.AugmentParams, with the fields the library reads."""

    method: str = "generate"
    examples_per_label: int = 3
    exemplars: int = 2
    rewrites_per_example: int = 2
    instruction: str | None = None
    max_new_tokens: int = 6
    temperature: float = 1.0
    top_p: float = 0.95
    batch_size: int = 2
    min_words: int = 3
    near_duplicate: float = 0.9
    labeller_confidence: float = 0.5


def train_rows():
    return [
        instruct_record(TASK, {"id": f"{label}-{n}", "text": text, "labels": {TASK.name: label}})
        for label, texts in POSTS.items()
        for n, text in enumerate(texts)
    ]


def candidate(text, label="offensive", finished=True):
    return {
        "label": label,
        "method": "generate",
        "sources": ["offensive-0"],
        "prompt": "p",
        "text": text,
        "finished": finished,
        "new_tokens": 5,
    }


def test_normalize_folds_case_width_and_punctuation():
    assert normalize("  Hello,   WORLD!!  ") == "hello world"
    assert normalize("ﬁne—Straße_x\n\t42") == "fine strasse x 42"  # NFKC ligature, casefold ß, "_" separates
    assert normalize("?!...") == ""


def test_generate_requests_show_training_rows_of_their_label_only():
    rows = train_rows()
    requests = build_requests(TASK, rows, Params(), seed=1)
    ids_by_label = {label: {r["id"] for r in rows if r["label"] == label} for label in POSTS}
    # maybe_offensive has no training row: no request asks for it
    assert [r["label"] for r in requests] == ["offensive"] * 3 + ["not_offensive"] * 3
    for request in requests:
        assert request["method"] == "generate"
        assert len(request["sources"]) == 2 and set(request["sources"]) <= ids_by_label[request["label"]]
        shown = {row["input"] for row in rows if row["id"] in request["sources"]}
        assert all(text in request["prompt"] for text in shown)
        assert not any(row["input"] in request["prompt"] for row in rows if row["id"] not in request["sources"])
        answer = TASK.verbalize(request["label"])
        assert f'is "{answer}":' in request["prompt"] and "Answer with" not in request["prompt"]
    assert build_requests(TASK, rows, Params(), seed=1) == requests
    assert build_requests(TASK, rows, Params(), seed=2) != requests


def test_generate_requests_show_fewer_exemplars_when_a_label_has_fewer_rows():
    requests = build_requests(TASK, train_rows(), Params(exemplars=10), seed=0)
    assert {len(r["sources"]) for r in requests if r["label"] == "not_offensive"} == {2}


def test_rewrite_requests_one_per_row_and_rewrite():
    rows = train_rows()
    requests = build_requests(TASK, rows, Params(method="rewrite"), seed=0)
    assert [r["sources"] for r in requests] == [[row["id"]] for row in rows for _ in range(2)]
    assert [r["label"] for r in requests] == [row["label"] for row in rows for _ in range(2)]
    assert requests[0]["prompt"].endswith("\n\n" + rows[0]["input"])
    custom = build_requests(TASK, rows, Params(method="rewrite", instruction="Say it shorter."), seed=0)
    assert custom[0]["prompt"] == "Say it shorter.\n\n" + rows[0]["input"]


def test_requests_refuse_tasks_that_are_not_single_text_classification():
    with pytest.raises(ParamsError, match="generation"):
        build_requests(get_task("sbic", "targetMinority"), [], Params(), seed=0)
    pair = get_task("mrpc", "paraphrase")
    row = instruct_record(pair, {"id": "1", "text_a": "a b", "text_b": "c d", "labels": {pair.name: "paraphrase"}})
    with pytest.raises(ParamsError, match="pairs"):
        build_requests(pair, [row], Params(), seed=0)


def test_each_filter_drops_under_its_reason_and_the_counts_add_up():
    candidates = [
        candidate("A brand new post about people."),  # kept
        candidate("too short"),  # short
        candidate(""),  # short
        candidate("A long enough but cut off", finished=False),  # truncated
        candidate("  those PEOPLE are all lazy, and stupid "),  # copy_of_training
        candidate(TEST_POST),  # leaks_held_out
        candidate("A brand new post about people!"),  # near_duplicate of the first
        candidate("Sunshine and ice cream for everyone.", label="not_offensive"),  # kept
    ]
    kept, dropped, counts = filter_candidates(candidates, train_rows(), [TEST_POST], Params(), TASK)
    assert [d["reason"] for d in dropped] == [
        "short",
        "short",
        "truncated",
        "copy_of_training",
        "leaks_held_out",
        "near_duplicate",
    ]
    assert [row["id"] for row in kept] == ["synthetic-0", "synthetic-7"]
    assert [d["id"] for d in dropped] == [f"synthetic-{i}" for i in range(1, 7)]
    assert counts == {
        "candidates": 8,
        "kept": 2,
        "dropped": {
            "short": 2,
            "truncated": 1,
            "copy_of_training": 1,
            "leaks_held_out": 1,
            "near_duplicate": 1,
            "labeller_disagrees": 0,
        },
        "kept_per_label": {"offensive": 1, "maybe_offensive": 0, "not_offensive": 1},
    }
    assert counts["candidates"] == counts["kept"] + sum(counts["dropped"].values())
    assert list(counts["dropped"]) == list(REASONS)


def test_kept_rows_have_the_training_row_shape():
    (row,), _, _ = filter_candidates([candidate("A brand new post about people.")], [], [], Params(), TASK)
    assert row == {
        "id": "synthetic-0",
        "instruction": TASK.instruction,
        "input": "A brand new post about people.",
        "output": TASK.verbalize("offensive"),
        "label": "offensive",
        "method": "generate",
        "sources": ["offensive-0"],
    }


def test_the_first_failing_check_names_the_reason():
    # short and truncated and a copy: short; a truncated copy: truncated; a copy of a held-out post too: copy
    candidates = [
        candidate("Typical", finished=False),
        candidate("Typical of them", finished=False),
        candidate("Typical of them."),
    ]
    _, dropped, _ = filter_candidates(candidates, train_rows(), ["typical of THEM"], Params(), TASK)
    assert [d["reason"] for d in dropped] == ["short", "truncated", "copy_of_training"]


def test_a_held_out_post_never_reaches_training():
    variants = [
        TEST_POST,
        TEST_POST.upper(),
        "nobody wants you here you people ruin everything",
        "  Nobody   wants you here... you people, ruin everything?!  ",
    ]
    kept, dropped, counts = filter_candidates([candidate(v) for v in variants], [], [TEST_POST], Params(), TASK)
    assert kept == [] and counts["dropped"]["leaks_held_out"] == 4
    assert {d["reason"] for d in dropped} == {"leaks_held_out"}


def test_near_duplicates_compare_with_kept_posts_only():
    # cosines: first-second 0.52, second-third 0.61, first-third 0.17; the second is dropped, so the third stays
    chain = ["alpha beta gamma delta epsilon zeta", "alpha beta gamma delta eta theta", "gamma delta eta theta iota"]
    kept, dropped, _ = filter_candidates([candidate(t) for t in chain], [], [], Params(near_duplicate=0.5), TASK)
    assert [row["input"] for row in kept] == [chain[0], chain[2]] and [d["id"] for d in dropped] == ["synthetic-1"]
    # at 1, only exact repeats (up to normalize) are duplicates
    texts = ["one two three four five six", "one two three four five seven", "One two, three four five six!"]
    kept, dropped, _ = filter_candidates([candidate(t) for t in texts], [], [], Params(near_duplicate=1.0), TASK)
    assert [row["input"] for row in kept] == texts[:2] and [d["id"] for d in dropped] == ["synthetic-2"]


def test_the_labeller_keeps_only_confident_agreement():
    texts = ["Agrees with confidence here.", "Agrees but unsure here.", "Disagrees with it here."]
    scores = [
        {"offensive": 0.9, "not_offensive": 0.1},
        {"offensive": 0.4, "maybe_offensive": 0.3, "not_offensive": 0.3},
        {"offensive": 0.2, "not_offensive": 0.8},
    ]
    seen = []

    def labeller(rows):
        seen.extend(rows)
        return [
            {"id": r["id"], "gold": r["label"], "pred": max(s, key=s.get), "scores": s}
            for r, s in zip(rows, scores, strict=True)
        ]

    kept, dropped, counts = filter_candidates([candidate(t) for t in texts], [], [], Params(), TASK, labeller)
    assert [row["input"] for row in kept] == texts[:1]
    assert [d["reason"] for d in dropped] == ["labeller_disagrees"] * 2
    assert counts["dropped"]["labeller_disagrees"] == 2 and counts["kept"] == 1
    assert [r["input"] for r in seen] == texts and all(r["label"] == "offensive" for r in seen)


def test_rewrites_keep_their_source_attributes():
    row = {**train_rows()[0], "attributes": {"age": 30}, "input": "age: 30\n" + POSTS["offensive"][0]}
    (request,) = build_requests(TASK, [row], Params(method="rewrite", rewrites_per_example=1), seed=0)
    assert request["prompt"].endswith("\n\n" + POSTS["offensive"][0])
    (kept,), _, _ = filter_candidates(
        [{**request, "text": "They are lazy people, those ones.", "finished": True}], [row], [], Params(), TASK
    )
    assert kept["input"] == "age: 30\nThey are lazy people, those ones." and kept["attributes"] == {"age": 30}


@pytest.fixture(scope="module")
def llm(tiny_llama):
    return load_causal_lm(tiny_llama, resolve_runtime("cpu", "float32", "none")).eval(), load_tokenizer(tiny_llama)


def test_sampling_gives_one_candidate_per_request_the_same_for_a_seed(llm):
    model, tokenizer = llm
    requests = build_requests(TASK, train_rows(), Params(), seed=0)
    first = generate(model, tokenizer, requests, Params(), seed=3)
    assert [{k: c[k] for k in requests[0]} for c in first] == requests
    assert generate(model, tokenizer, requests, Params(), seed=3) == first
    assert [c["text"] for c in generate(model, tokenizer, requests, Params(), seed=4)] != [c["text"] for c in first]
    assert all(1 <= c["new_tokens"] <= Params().max_new_tokens for c in first)
    assert all(c["finished"] or c["new_tokens"] == Params().max_new_tokens for c in first)


def test_finished_says_whether_the_answer_ended_before_max_new_tokens(llm, monkeypatch):
    model, tokenizer = llm
    requests = build_requests(TASK, train_rows(), Params(method="rewrite", rewrites_per_example=1), seed=0)[:3]
    eos = tokenizer.eos_token_id
    monkeypatch.setattr(model.generation_config, "suppress_tokens", [eos])
    never = generate(model, tokenizer, requests, Params(), seed=0)
    assert all(not c["finished"] and c["new_tokens"] == Params().max_new_tokens for c in never)
    monkeypatch.setattr(model.generation_config, "suppress_tokens", [i for i in range(len(tokenizer)) if i != eos])
    at_once = generate(model, tokenizer, requests, Params(), seed=0)
    assert all(c["finished"] and c["new_tokens"] == 1 and c["text"] == "" for c in at_once)


def test_sampling_without_chat_template_or_pad_token_leaves_the_tokenizer_alone(llm):
    model, tokenizer = llm
    plain = copy.deepcopy(tokenizer)
    plain.chat_template, plain.pad_token = None, None
    candidates = generate(model, plain, build_requests(TASK, train_rows(), Params(), seed=0)[:2], Params(), seed=0)
    assert len(candidates) == 2 and plain.pad_token is None and plain.chat_template is None


def test_diversity_counts_distinct_ngrams():
    assert diversity(["a b a", "A c"]) == {"texts": 2, "distinct_1": 3 / 5, "distinct_2": 3 / 3}
    assert diversity(["x x x"]) == {"texts": 1, "distinct_1": 1 / 3, "distinct_2": 1 / 2}
    assert diversity([]) == {"texts": 0, "distinct_1": 0.0, "distinct_2": 0.0}


@pytest.mark.parametrize(
    ("answer", "post"),
    [
        ('Here\'s a rewritten version of the text:\n\n"go back home"', "go back home"),
        ("“a day at the beach”", "a day at the beach"),
        ("RT @someone: what a day\nsecond line", "RT @someone: what a day\nsecond line"),
        ("no preamble here", "no preamble here"),
    ],
)
def test_the_post_is_taken_out_of_the_llms_answer(answer, post):
    assert post_of(answer) == post
