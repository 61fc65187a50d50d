"""Metrics on predictions vs gold labels, one module per concern (import from the module itself; this
package re-exports nothing, so that a stage importing one module does not pull in the others):

- ``classification``: classification metrics, the per-row statistics a bootstrap resamples, main metric,
  binarized F1, confusion rows;
- ``generation``: target-group generation: group-set scores, BLEU-2, ROUGE-L, top-group recall;
- ``multilabel``: multi-label metrics: label-set indicators, per-label scores, micro / macro F1, ROC-AUC;
- ``bootstrap``: seeded resample indices, percentile intervals, paired bootstrap p-values;
- ``calibration``: ECE, reliability rows, Brier score, ROC / PR curves, coverage vs accuracy;
- ``agreement``: human agreement: Krippendorff's alpha, pairwise agreement, leave-one-out kappa,
  per-annotator kappas, kappa of a system against the human majority;
- ``human_bootstrap``: intervals of the annotators' alpha, AC1 and leave-one-out kappa on the systems'
  resamples, and each system's paired kappa difference against the annotators;
- ``reference``: can the annotators' labels serve as the reference? selection, implausible agreement,
  coverage, test-retest repeats;
- ``alt_test``: the alternative annotator test (can a system replace an annotator?);
- ``comparison``: ``evaluate`` (dispatch by task kind) and ``compare_systems``;
- ``formatting``: plain, rounded JSON numbers for the metrics files.
"""
