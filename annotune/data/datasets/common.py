"""Dataset-independent steps of prepare: stable ids, leakage removal, seeded stratified sampling."""

from __future__ import annotations

import hashlib
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable

from annotune.config import attribute_values
from annotune.errors import DataError

Record = dict


class DatasetError(DataError):
    """A dataset file or declaration that cannot be read as declared; the message names file, line, column."""


def read_attributes(row: dict, attributes: dict[str, str], where: str) -> dict[str, str | float]:
    """A row's declared attribute values (prepare.attributes), or an error naming file, row and column."""
    try:
        return attribute_values(row, attributes)
    except ValueError as exc:
        raise DatasetError(f"{where}, {exc}") from None


def refuse_attributes(attributes: dict[str, str] | None, dataset: str, columns: str) -> None:
    """For a dataset whose files hold nothing beyond the text and its labels: declared attributes are an error."""
    if attributes:
        raise DatasetError(
            f"params.yaml: prepare.attributes declares {', '.join(attributes)}, but the {dataset} files have no "
            f"column besides {columns}; attributes are columns of sbic's files or of your own table (dataset: table)"
        )


def record_text(record: Record) -> str:
    """The text a record is compared on: its text, or its two sentences for a pair."""
    return record["text"] if "text" in record else f"{record['text_a']}\n{record['text_b']}"


def normalize_text(text: str) -> str:
    return " ".join(text.lower().split())


def record_id(text: str) -> str:
    """Stable across runs and machines: a hash of the normalized text."""
    return hashlib.sha1(normalize_text(text).encode("utf-8")).hexdigest()[:16]


def dedupe(records: list[Record]) -> tuple[list[Record], int]:
    """Keep the first record of each id (posts equal after normalizing case and white space)."""
    seen, kept = set(), []
    for record in records:
        if record["id"] not in seen:
            seen.add(record["id"])
            kept.append(record)
    return kept, len(records) - len(kept)


def remove_leakage(records: list[Record], held_out: list[Record]) -> tuple[list[Record], dict[str, int]]:
    """Drop records whose text occurs in ``held_out``, exactly or after normalizing case and white space."""
    exact = {record_text(r) for r in held_out}
    normalized = {normalize_text(record_text(r)) for r in held_out}
    kept, counts = [], Counter(exact_match=0, normalized_match=0)
    for record in records:
        if record_text(record) in exact:
            counts["exact_match"] += 1
        elif normalize_text(record_text(record)) in normalized:
            counts["normalized_match"] += 1
        else:
            kept.append(record)
    return kept, dict(counts)


def stratified_split(
    records: list[Record], n_first: int, key: Callable[[Record], object], seed: int
) -> tuple[list[Record], list[Record]]:
    """Seeded stratified split: ``n_first`` records (proportional per stratum) and the rest, order kept."""
    if n_first >= len(records):
        return list(records), []
    strata: dict[object, list[int]] = defaultdict(list)
    for index, record in enumerate(records):
        strata[key(record)].append(index)
    rng = random.Random(seed)
    quotas = {k: n_first * len(v) / len(records) for k, v in strata.items()}
    take = {k: int(q) for k, q in quotas.items()}
    # Largest remainders get the seats left by rounding down; ties broken by stratum size then name.
    leftover = n_first - sum(take.values())
    for k in sorted(quotas, key=lambda k: (take[k] - quotas[k], -len(strata[k]), str(k)))[:leftover]:
        take[k] += 1
    chosen = set()
    for k in sorted(strata, key=str):
        indices = list(strata[k])
        rng.shuffle(indices)
        chosen.update(indices[: take[k]])
    first = [r for i, r in enumerate(records) if i in chosen]
    rest = [r for i, r in enumerate(records) if i not in chosen]
    return first, rest


def label_distribution(records: Iterable[Record], task: str, set_valued: bool = False) -> dict[str, int]:
    """Records per label; for a set-valued task, records per label of their sets."""
    if set_valued:
        return dict(sorted(Counter(label for r in records for label in r["labels"][task].split(", ")).items()))
    return dict(sorted(Counter(r["labels"][task] for r in records).items()))


def carve_splits(
    records: list[Record],
    fractions: dict[str, float],
    key: Callable[[Record], object],
    seed: int,
    group: Callable[[Record], str] | None = None,
) -> tuple[dict[str, list[Record]], dict]:
    """Carve train / dev / test from one pool: seeded, stratified on ``key``, ``fractions`` of the items (of the
    groups, when ``group`` is given: a group's records all go to one split, the group stratified on its most
    frequent stratum). dev and test get at least one unit each; order is kept within each split."""
    units: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        units[group(record) if group else record["id"]].append(record)
    names = list(units)
    what = "groups" if group else "items"
    n_test = max(1, round(fractions["test"] * len(names)))
    n_dev = max(1, round(fractions["dev"] * len(names)))
    if n_test + n_dev >= len(names):
        raise DatasetError(
            f"prepare: cannot carve train, dev and test from {len(names)} {what}: dev {n_dev} + test {n_test} leave "
            "train nothing; add rows, or lower table.split_fractions"
            + (", or use a finer table.group_column" if group else "")
        )

    def stratum(name: str):
        counts = Counter(str(key(r)) for r in units[name])
        return max(sorted(counts), key=lambda k: counts[k])

    test, rest = stratified_split(names, n_test, stratum, seed)
    dev, train = stratified_split(rest, n_dev, stratum, seed)
    chosen = {"train": set(train), "dev": set(dev), "test": set(test)}
    unit_of = {id(r): (group(r) if group else r["id"]) for r in records}
    carved = {split: [r for r in records if unit_of[id(r)] in chosen[split]] for split in ("train", "dev", "test")}
    stats = {"items": {split: len(carved[split]) for split in carved}}
    if group:
        stats["groups"] = {split: len(chosen[split]) for split in carved}
    return carved, stats


def annotator_sample(
    records: list[Record], n: int, target: int, key: Callable[[Record], object], seed: int
) -> tuple[list[Record], list[Record], dict]:
    """``n`` test records chosen so that the most active annotators get ``target`` items each where the data
    allows (``prepare.test_sampling: annotators``), then filled up by ``stratified_split``; order kept.

    Annotators are ranked by their items with 2+ annotators (the items the Alt-Test scores; ties by id). For a
    group of the ``k`` first, each in turn gets the items it lacks, preferring (in a seeded random order) items
    that bring more of the group's annotators still short of the target closer to it; an annotator whose need
    no longer fits in ``n`` is passed over. Every ``k`` is tried and the one bringing the most annotators to the
    target kept (the smallest on a tie, leaving more to the stratified fill): aiming at everyone spreads the items
    thin (on SBIC's dev file with ``n`` 300: 13 annotators at 30 items aiming at all 98 who could, 28 for the best
    group). Not a probability sample: the items are chosen for who labelled them, so the labels' shares drift
    from the population's (``probability_sample: false`` in the stats). Returns the sample, the rest, the stats."""
    if n >= len(records):
        return list(records), [], {"policy": "annotators", "target_items": target, "everything_kept": True}
    items_of: dict[str, list[int]] = defaultdict(list)
    for index, record in enumerate(records):
        annotators = set(record.get("annotators") or ())
        if len(annotators) >= 2:
            for annotator in annotators:
                items_of[annotator].append(index)
    ranked = sorted((a for a, items in items_of.items() if len(items) >= target), key=lambda a: (-len(items_of[a]), a))

    def greedy(group: list[str]) -> tuple[set[int], Counter]:
        rng, chosen, have, members = random.Random(seed), set(), Counter(), set(group)
        for annotator in group:
            need = target - have[annotator]
            if need <= 0 or need > n - len(chosen):
                continue
            candidates = [i for i in items_of[annotator] if i not in chosen]
            rng.shuffle(candidates)
            helps = {i: sum(a in members and have[a] < target for a in records[i]["annotators"]) for i in candidates}
            for index in sorted(candidates, key=lambda i: -helps[i])[:need]:  # stable: the seeded order breaks ties
                chosen.add(index)
                have.update(set(records[index]["annotators"]))
        return chosen, have

    best: tuple[int, set[int]] = (0, set())
    for k in range(1, len(ranked) + 1):
        chosen, have = greedy(ranked[:k])
        reached = sum(count >= target for count in have.values())
        if reached > best[0]:
            best = (reached, chosen)
    chosen = best[1]
    picked = len(chosen)
    filled, _ = stratified_split([r for i, r in enumerate(records) if i not in chosen], n - picked, key, seed)
    filled_ids = {id(r) for r in filled}
    chosen = chosen | {i for i, r in enumerate(records) if id(r) in filled_ids}
    sample = [r for i, r in enumerate(records) if i in chosen]
    shared = Counter(a for r in sample if len(set(r.get("annotators") or ())) >= 2 for a in set(r["annotators"]))
    stats = {
        "policy": "annotators",
        "target_items": target,
        "annotators_able": len(ranked),  # with target items or more available
        "annotators_at_target": sum(count >= target for count in shared.values()),
        "items_for_annotators": picked,
        "items_filled_stratified": n - picked,
        "probability_sample": False,
    }
    return sample, [r for i, r in enumerate(records) if i not in chosen], stats
