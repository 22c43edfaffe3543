"""The documentation site builds without a single warning (``make docs``), and the gallery is well formed."""
import ast
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_gallery_scripts_have_titles_and_a_demo_step():
    for path in sorted((ROOT / "examples").glob("[!_]*.py")):
        tree = ast.parse(path.read_text())
        doc = ast.get_docstring(tree)
        assert doc, f"{path.name}: no module docstring"
        lines = doc.splitlines()
        assert len(lines) > 1 and set(lines[1]) == {"="} and len(lines[1]) >= len(lines[0]), \
            f"{path.name}: the docstring must start with a title underlined with '=' (sphinx-gallery)"
        names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)} | {
            t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
            if isinstance(t, ast.Name)}
        assert "demo_step" in names or path.name == "main_job.py", f"{path.name}: no demo_step"


@pytest.mark.slow
def test_sphinx_site_builds_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("sphinx_gallery")
    pytest.importorskip("numpydoc")
    pytest.importorskip("myst_parser")
    src = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", src, ignore=shutil.ignore_patterns(
        "_build", "generated", "gallery", "sg_execution_times.rst"))
    env = {**os.environ, "SOLARPREP_ROOT": str(ROOT), "SOLARPREP_DOCS_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                           str(src), str(tmp_path / "html")], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert (tmp_path / "html" / "index.html").exists()
