"""Notebooks 01 -> 05 opened and run in a real JupyterLab, in headless Chromium driven by Playwright.

nbval runs the kernel, not the front end: this test is what notices a notebook that stops rendering
in the browser. It starts JupyterLab on the session's copy of the repository after its ``make reproduce``
(``tests/conftest.py``; so the checkout's ``runs/`` stays untouched, and the training stages resume from
the run's finished checkpoints instead of training again), opens every notebook in order in Debian's
Chromium (the system browser through ``executable_path``; Playwright never downloads one), runs all its
cells, fails on any error or stderr output, counts the figures the page rendered against the committed
notebook's, and keeps a screenshot of each notebook in ``build/browser/``.

    .venv/bin/pytest -m browser tests/test_browser.py     # apt-get install chromium, once

Outside CI (``$CI`` unset) the test skips, saying why, when Chromium, Playwright or JupyterLab is
missing; in CI a missing one is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").glob("0[1-5]_*.ipynb") if not p.stem.endswith("_imagenet"))
"""The embedded default's notebooks (ImageNet's notebook 04 runs in the imagenet-tiny pipeline test)."""
SCREENSHOTS = ROOT / "build" / "browser"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TOKEN = "fracbnn-browser-test"
NOTEBOOK_TIMEOUT_S = 1200

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _missing() -> str | None:
    if CHROMIUM is None:
        return "Chromium is not installed (apt-get update && apt-get install chromium)"
    for module in ("playwright", "jupyterlab"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (pip install -e '.[test]')"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _figures(notebook: Path) -> int:
    """Figures the committed notebook shows: its image outputs."""
    cells = nbformat.read(notebook, as_version=4).cells
    return sum("image/png" in o.get("data", {}) for c in cells if c.cell_type == "code" for o in c.outputs)


STATE = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.content.model || !panel.sessionContext.session) return null;
  const cells = [];
  const model = panel.content.model.cells;
  for (let i = 0; i < model.length; i++) {
    const cell = model.get(i);
    if (cell.type !== "code") continue;
    cells.push({count: cell.executionCount, outputs: cell.outputs.toJSON()});
  }
  const kernel = panel.sessionContext.session.kernel;
  return {kernel: kernel ? kernel.status : "none", cells: cells,
          images: panel.node.querySelectorAll(".jp-OutputArea-output img").length};
}"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory, repo_copy, embedded_run):
    """JupyterLab on the session's repository copy (its finished embedded-default run), every cell rendered (no
    windowing), its own settings and workspaces (tabs a developer's earlier session left open must not be
    restored); yields its base URL and root."""
    missing = _missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"the browser test must run in CI: {missing}")
        pytest.skip(missing)
    root, state = repo_copy, tmp_path_factory.mktemp("lab")
    settings = state / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    news = state / "settings" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port = _free_port()
    env = {**os.environ, "TQDM_DISABLE": "1", "JUPYTERLAB_SETTINGS_DIR": str(state / "settings")}
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
               f"--ServerApp.token={TOKEN}", f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
               "--ServerApp.allow_root=True", f"--LabApp.workspaces_dir={state / 'workspaces'}"]  # fmt: skip
    log = (state / "lab.log").open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("JupyterLab did not start: " + (state / "lab.log").read_text()[-2000:])
                time.sleep(1)
        yield url, root
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_notebooks_run_and_render_in_a_real_browser(lab):
    from playwright.sync_api import sync_playwright

    url, root = lab
    metrics = root / "runs" / "default" / "metrics.json"
    before = metrics.stat().st_mtime_ns
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for notebook in NOTEBOOKS:
            page.goto(f"{url}/lab/tree/notebooks/{notebook.name}?token={TOKEN}")
            page.wait_for_function(f"() => ({STATE})() !== null && ({STATE})().kernel === 'idle'", timeout=120_000)
            # cleared first: the committed notebook's execution counts must not pass for this run's
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
            page.wait_for_function(f"() => ({STATE})().cells.every(c => !c.count)", timeout=60_000)
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            done = f"() => {{ const s = ({STATE})(); return s && s.kernel === 'idle' && s.cells.every(c => c.count); }}"
            page.wait_for_function(done, timeout=NOTEBOOK_TIMEOUT_S * 1000, polling=1000)
            state = page.evaluate(STATE)
            page.screenshot(path=str(SCREENSHOTS / f"{notebook.stem}.png"))
            page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
            outputs = [o for cell in state["cells"] for o in cell["outputs"]]
            errors = [f"{o['ename']}: {o['evalue']}" for o in outputs if o.get("output_type") == "error"]
            stderr = [o.get("text") for o in outputs if o.get("output_type") == "stream" and o.get("name") == "stderr"]
            assert not errors and not stderr, f"{notebook.name}: {errors or stderr}"
            figures = sum("image/png" in o.get("data", {}) for o in outputs)
            assert figures == _figures(notebook), f"{notebook.name}: {figures} figures, committed {_figures(notebook)}"
            assert state["images"] == figures, f"{notebook.name}: the page rendered {state['images']} of {figures}"
        browser.close()
    assert metrics.stat().st_mtime_ns > before, "the notebooks in the browser did not write the run's metrics"
    assert sorted(p.name for p in SCREENSHOTS.glob("0*.png")) == [f"{nb.stem}.png" for nb in NOTEBOOKS]
