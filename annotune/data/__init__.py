"""Data in and out: the rows annotune reads and the files it writes.

- ``readers``: the one CSV / TSV / JSONL reader (prepare, annotate, Label Studio's CSV import);
- ``datasets``: one adapter per dataset (SBIC, MRPC, GoEmotions, a declared table) -> canonical records;
- ``tasks``: what each task asks, its allowed answers and how an LLM says them;
- ``fetch``: a dataset's raw files, each checked against its sha256;
- ``io``: the JSON Lines and JSON files every stage exchanges;
- ``files``: writing without harm to the user's files (where an output may go, atomic replacement, locks).
"""
