"""``fracbnn hls-report``: a Vivado/Vitis HLS csynth report beside the cost model of the accelerator it belongs to.

``make -C hls/<accelerator> hls`` keeps the report in ``<export>/csynth_report`` and runs this. The export's
manifest says which accelerator (:func:`fracbnn_lib.accelerators.accelerator_of`), so the report is compared with
that accelerator's model (its ``cost_summary`` at the export's formats and levels, its ``accelerator_loops``),
never with the other one's::

    python -m fracbnn_lib hls-report runs/<run>/export/csynth_report   # or the export folder
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from .cli import OneLineParser


def main(argv: Sequence[str] | None = None) -> int:
    """``fracbnn hls-report DIR``: print the csynth report beside the cost model; 1 if there is none."""
    from .hw.csynth import CsynthError, compare_with_model, format_comparison, read_csynth
    from .hw.export_folder import MANIFEST_FILE, ExportError, accelerator_of, manifest_formats, read_manifest

    parser = OneLineParser(prog="fracbnn hls-report", description="Print a csynth report beside the cost model.")
    parser.add_argument("folder", type=Path, help="csynth report folder, or an export holding csynth_report/")
    args = parser.parse_args(list(argv) if argv is not None else None)
    export = args.folder if (args.folder / MANIFEST_FILE).is_file() else args.folder.parent
    try:
        report = read_csynth(args.folder)
        accelerator = accelerator_of(export)
        manifest = read_manifest(export)
    except (CsynthError, ExportError) as err:
        print(f"fracbnn hls-report: error: {err}", file=sys.stderr)
        return 1
    hardware, levels = accelerator.hardware(), int(manifest["levels"])
    summary = hardware.cost_summary(manifest_formats(manifest), levels)
    print(f"{accelerator.name} accelerator ({accelerator.top}), export {export}")
    print(format_comparison(report, compare_with_model(report, summary, hardware.accelerator_loops(levels))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
