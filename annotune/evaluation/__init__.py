"""Evaluation: how good each system is, against the human labels and the annotators' own agreement.

- ``metrics``: the metrics, one module per concern (classification, agreement, the Alt-Test, calibration, ...);
- ``handoff``: a prediction's confidence and the threshold that hands the unsure rows to humans;
- ``estimate`` / ``estimate_markdown``: prevalence estimates from model labels plus a few human labels (PPI);
- ``report`` / ``report_sections`` / ``report_human`` / ``report_figures`` / ``published``: metrics/summary.md,
  the verdict, its figures and the published figures printed beside ours;
- ``offline_plots`` / ``plots_page`` / ``plots_tables``: the review page (``annotune plots``);
- ``dvc_sections``: dvc.yaml's written-out ``plots:`` (the review page's charts) and ``artifacts:`` (the trained
  folders, for DVC's model registry).
"""
