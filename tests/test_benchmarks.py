"""The quality benchmark (benchmarks/quality.py) runs end to end in its quick mode.

It runs in-process with one intra-op thread, on the coloured digits only, with two seeds:
this checks that the script works and reports what it should, not what the model finds.
"""

import importlib.util
import json
import re
from pathlib import Path

import pytest
import torch
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
CELL = re.compile(r"^-?\d+\.\d{3}( ± \d+\.\d{3})?$")  # "mean ± std" of a score


@pytest.fixture(scope="module")
def quality():
    """benchmarks/quality.py as a module (importing it runs nothing)."""
    spec = importlib.util.spec_from_file_location("quality_benchmark",
                                                  ROOT / "benchmarks" / "quality.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def one_thread():
    """One thread for torch and for scikit-learn's OpenMP and BLAS pools."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(threads)


def table_rows(report, first_header):
    """The rows (lists of cells) of the Markdown table whose first header is given."""
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows[0], rows[2:]


def test_quality_benchmark_quick(quality, one_thread, tmp_path, capsys):
    output = tmp_path / "quality.md"
    results = quality.main(["--quick", "--datasets", "digits", "--seeds", "2",
                            "--device", "cpu", "--output", str(output)])
    report = capsys.readouterr().out

    methods = ["MFCVAE n_init=1", "KMeans", "GMM (diag)"]
    if quality.supports_n_init():
        methods.append("MFCVAE n_init=3")
    headers, rows = table_rows(report, "method")
    ari = headers.index("ARI")
    for method in methods:
        cells = [row[ari] for row in rows if row[0] == method]
        assert cells and all(CELL.match(cell) for cell in cells), (method, report)
    assert "QUICK" in report
    assert output.read_text(encoding="utf-8").strip() == report.strip()

    (json_file,) = tmp_path.glob("quality-*.json")
    saved = json.loads(json_file.read_text(encoding="utf-8"))
    assert saved["quick"] and saved["seeds"] == [0, 1]
    assert saved == json.loads(json.dumps(results))
    (digits,) = saved["datasets"]
    assert digits["factors"] == ["digit", "foreground"]
    for method in methods:
        records = [r for r in digits["records"] if r["method"] == method]
        assert {r["seed"] for r in records} == {0, 1}, method
        for record in records:
            for metric in ("ari", "nmi", "hungarian", "majority"):
                scores = record["scores"][metric]
                assert len(scores) == 2 and len(scores[0]) == len(record["clusterings"])
            assert record["seconds"] > 0
