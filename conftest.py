"""Test-suite setup shared by the unit tests and the notebook regression (nbval).

Progress bars are switched off for the whole run, including the Jupyter kernels that nbval and the
pipeline start (they inherit this environment): a progress bar's output is timing-dependent, and
the committed notebooks were executed with it off.
"""

import os

os.environ.setdefault("TQDM_DISABLE", "1")
