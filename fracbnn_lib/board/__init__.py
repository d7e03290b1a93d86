"""Board evaluation of the FracNet_T accelerator: the driver (PYNQ board or C-simulation) and its report.

:mod:`.driver` and :mod:`.report` import only numpy and matplotlib, so the deploy bundle carries
this package's two modules (as ``fracnet_board/``) to PYNQ boards, which have no PyTorch;
:mod:`.deploy` writes that bundle (``python -m fracbnn_lib deploy``) and is not carried.
"""

from .driver import (
    BatchResult,
    BoardError,
    CsimBackend,
    FracNetDriver,
    PynqBackend,
    Timing,
    Vectors,
    find_vectors,
    load_vectors,
    resolve_target,
)
from .report import (
    BACKEND_LABELS,
    PAPER_BOARD,
    accuracy,
    board_metrics,
    class_names,
    comparison_text,
    confusion_matrix,
    logit_agreement,
    plot_confusion,
    plot_latency,
    read_metrics,
    save_figure,
    update_metrics,
)

__all__ = [
    "BACKEND_LABELS",
    "PAPER_BOARD",
    "BatchResult",
    "BoardError",
    "CsimBackend",
    "FracNetDriver",
    "PynqBackend",
    "Timing",
    "Vectors",
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
