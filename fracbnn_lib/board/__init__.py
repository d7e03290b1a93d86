"""Board evaluation of both accelerators: the driver (PYNQ board or C-simulation) and its report.

:mod:`.driver` and :mod:`.report` import only numpy, matplotlib and the library's torch-free modules
(:mod:`fracbnn_lib.accelerators`, :mod:`fracbnn_lib.logits`, :mod:`fracbnn_lib.run_files`,
:mod:`fracbnn_lib.paper`, the export readers and C-simulations of :mod:`fracbnn_lib.hw`), so the deploy
bundle carries them, as the same package, to PYNQ boards, which have no PyTorch; :mod:`fracbnn_lib.deploy`
(host tooling) writes that bundle (``python -m fracbnn_lib deploy``) and is not carried. Accuracy, logit agreement
and the metrics file are those modules' own functions, re-exported here for notebook 05.
"""

from ..logits import accuracy, logit_agreement
from ..run_files import read_metrics, save_figure, update_metrics
from .driver import (
    BatchResult,
    BoardError,
    CsimBackend,
    FracNetDriver,
    PynqBackend,
    Timing,
    Vectors,
    check_vectors_source,
    find_vectors,
    load_vectors,
    resolve_target,
)
from .report import (
    BACKEND_LABELS,
    board_metrics,
    class_names,
    comparison_text,
    confusion_matrix,
    plot_confusion,
    plot_latency,
)

__all__ = [
    "BACKEND_LABELS",
    "BatchResult",
    "BoardError",
    "CsimBackend",
    "FracNetDriver",
    "PynqBackend",
    "Timing",
    "Vectors",
    "check_vectors_source",
    "accuracy",
    "board_metrics",
    "class_names",
    "comparison_text",
    "confusion_matrix",
    "find_vectors",
    "load_vectors",
    "logit_agreement",
    "plot_confusion",
    "plot_latency",
    "read_metrics",
    "resolve_target",
    "save_figure",
    "update_metrics",
]
