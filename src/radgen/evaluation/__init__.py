"""The evaluation: one protocol for every generator (``radgen evaluate RUN``); it computes, and never renders.

- ``sets``: the real sets (reference, floor, shifted test);
- ``protocol``: ``evaluate_generator``, the protocol for any sampler;
- ``run``: ``evaluate_run``, the protocol on an exported run, and ``trained_budget``;
- ``result``: ``EvaluationResult``, a typed reader of ``metrics.json`` in every layout radgen has written.

``evaluate_run`` writes ``RUN/eval-<time>-<id>/`` (never overwriting another evaluation) with ``metrics.json``
and ``memorization.png``; ``radgen.reports.evaluation`` renders ``metrics.md``. The protocol (the yardsticks:
``radgen.metrics.protocol``):

1. Real sets: the reference set R (the run's held-out patient-level val split, same
   distribution as train; the official test split only when there is none, labelled shifted),
   the floor set F (training images with R's size and class counts) and, beside, the official
   test split as "shifted test" with its own floor.
2. Generated set G: ``len(R)`` samples; a conditional model is asked for R's labels.
3. Pixels: MMD^2 (one bandwidth for generator and floor), MS-SSIM diversity of G, R and F, and every
   metric registered in ``radgen.metrics.set_metrics`` for G and F against R.
4. Per extractor (``radgen-cnn001``, supervised; ``radgen-ae001``, label-free; ``inception``
   with user-given weights): FD, KD, precision / recall / density / coverage of G and of the
   floor F against R (the generator's percentile bootstrap interval, the floor's 95 % range over
   re-drawn floor sets), FD / floor; per class for conditional models;
   the same against the shifted test; nearest-neighbour memorization.
5. Label fidelity (conditional models): ``radgen-cnn001``'s classifier head labels G; per
   requested class the fraction it assigns to that class, beside its accuracy on R.
6. Reconstruction and likelihood for the VAE family; cost and the budget actually trained.

Recorded: which set every number used, each extractor (name, weights sha256, training
record), N of every set, image size and preprocessing.
"""

from radgen.evaluation.protocol import (
    DEFAULT_FEATURES,
    FIDELITY_CLASSIFIER,
    Sampler,
    evaluate_generator,
    generate_like,
    inception_score,
)
from radgen.evaluation.result import Distance, EvaluationResult
from radgen.evaluation.run import MIN_EVAL_IMAGES, evaluate_run, trained_budget
from radgen.evaluation.sets import ProtocolSets, build_sets

__all__ = [
    "DEFAULT_FEATURES",
    "FIDELITY_CLASSIFIER",
    "MIN_EVAL_IMAGES",
    "Distance",
    "EvaluationResult",
    "ProtocolSets",
    "Sampler",
    "build_sets",
    "evaluate_generator",
    "evaluate_run",
    "generate_like",
    "inception_score",
    "trained_budget",
]
