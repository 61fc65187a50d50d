"""What labelling 1,000 more items costs: each system on the machine that ran it vs people.

A system's cost is its measured prediction speed on this run's machine, as machine-hours per 1,000 items, at
params' price per machine-hour; its training is a one-time cost, reported apart. People cost 1,000 items x
annotators per item x the price of one label. No library prices compute or crowd work: plain arithmetic here.
"""

from __future__ import annotations

ITEMS = 1000


def system_cost(timing: dict, machine_hour_price: float) -> dict:
    """From a predict run's ``timing`` (predict_seconds, predict_rows, train_seconds, and for an augmented system
    generation_seconds: the part of its training spent writing the synthetic posts)."""
    rows_per_second = timing["predict_rows"] / timing["predict_seconds"] if timing["predict_seconds"] else None
    hours = ITEMS / rows_per_second / 3600 if rows_per_second else 0.0
    train_hours = timing.get("train_seconds", 0.0) / 3600
    return {
        "train_seconds": timing.get("train_seconds", 0.0),
        "predict_rows_per_second": rows_per_second,
        "machine_hours_per_1000": hours,
        "cost_per_1000": hours * machine_hour_price,
        "train_cost": train_hours * machine_hour_price,
    } | ({"generation_seconds": timing["generation_seconds"]} if "generation_seconds" in timing else {})


def human_cost(annotators_per_item: int, label_price: float) -> dict:
    return {"annotators_per_item": annotators_per_item, "cost_per_1000": ITEMS * annotators_per_item * label_price}
