"""Every example script runs end to end (briefly) and writes at least one figure.

The examples are run as separate processes, as a user would run them, with three training
epochs (``SKMFC_EXAMPLE_EPOCHS=3``, one per facet of the example with most facets, the
fewest progressive training allows): this checks that they work, not what they find. They
run with one intra-op thread: the networks are small, and on a busy CPU torch's thread
pool makes them many times slower.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))


def test_examples_found():
    assert len(EXAMPLES) >= 5, EXAMPLES


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.stem)
def test_example_runs(example, tmp_path):
    output = tmp_path / "figures"
    env = dict(os.environ, SKMFC_EXAMPLE_EPOCHS="3", SKMFC_EXAMPLES_OUTPUT=str(output),
               MPLBACKEND="Agg", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT),
                                                        os.environ.get("PYTHONPATH")])))
    result = subprocess.run([sys.executable, str(example)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (
        f"{example.name} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    figures = sorted(output.glob("*.png"))
    assert figures, f"{example.name} wrote no PNG into {output}"
    for figure in figures:
        assert figure.stat().st_size > 0, f"{figure} is empty"
        assert figure.name in result.stdout, f"{example.name} did not print {figure}"
