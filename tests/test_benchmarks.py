"""The benchmarks run end to end and count what they should.

The quality benchmark (benchmarks/quality.py) runs in-process in its quick mode with one
intra-op thread, on the coloured digits only, with two seeds: this checks that the
script works and reports what it should, not what the model finds. The speed benchmark
(benchmarks/speed.py) is checked for its FLOP count, its summary of rounds and its
memory sampling, and runs once on a few batches.
"""

import importlib.util
import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
CELL = re.compile(r"^-?\d+\.\d{3}( ± \d+\.\d{3})?$")  # "mean ± std" of a score


@pytest.fixture(scope="module")
def quality():
    return load_benchmark("quality")


def load_benchmark(name):
    """benchmarks/<name>.py as a module (importing it runs nothing)."""
    spec = importlib.util.spec_from_file_location(f"{name}_benchmark",
                                                  ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def speed():
    return load_benchmark("speed")


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


def test_speed_benchmark_counts_the_same_matmul_flops_for_both_loops(speed):
    from authors_style import AuthorsStyleMFCVAE

    from skmfc.nn import MFCVAE
    shapes = (speed.HIDDEN_SIZES, speed.LATENT_DIMS, speed.N_CLUSTERS)
    authors = AuthorsStyleMFCVAE(784, *shapes)
    ours = MFCVAE((784,), *shapes)
    # Products in x out of every linear layer of the paper's MNIST ladder: encoder,
    # Gaussian heads (mean and log-variance), decoder rungs, upward block and output.
    products = (784 * 500 + 500 * 2000 + 2 * (500 * 5 + 2000 * 5) + 5 * 500 + 5 * 2000
                + 2000 * 500 + 500 * 500 + 500 * 784)
    # Forward, input and weight gradients (6 per product), less the data's gradient.
    expected = 6 * products - 2 * 784 * 500
    assert speed.matmul_flops_per_sample(authors) == expected
    assert speed.matmul_flops_per_sample(ours) == expected


def test_speed_table_gives_medians_and_the_median_of_each_rounds_ratio(speed):
    def result(variant, samples_per_s):
        return dict(variant=variant, samples_per_s=samples_per_s, gflops=samples_per_s / 100,
                    peak_fraction=samples_per_s / 1e4, first_epoch_s=1.0, timed_epoch_s=2.0,
                    peak_memory_mb=10.0)
    # The machine slows down in round 2: each round's ratio is 1.5x or more, while the
    # medians of the rates alone would give 1000 / 1000 = 1.0x.
    rounds = [[result("authors", 1000), result("skmfc", 1500)],
              [result("authors", 400), result("skmfc", 1000)],
              [result("authors", 1200), result("skmfc", 1800)]]
    header, rows = table_rows(speed.results_table(rounds), "variant")
    by_variant = {row[0]: dict(zip(header, row)) for row in rows}
    assert by_variant["authors"]["samples/s"] == "1,000"
    assert by_variant["skmfc"]["samples/s"] == "1,500"
    assert by_variant["skmfc"]["vs authors' loop"] == "1.50x"
    assert by_variant["skmfc"]["% of fp32 matmul peak"] == "15 %"


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc")
def test_speed_memory_sampler_sees_a_transient_allocation(speed):
    with speed.ResidentMemoryPeak() as memory:
        block = torch.ones(50 * 2 ** 20 // 4)  # 50 MiB, written, then freed
        # Held for several sampling intervals, as training's buffers are, so that the
        # sampler cannot miss it between two readings.
        time.sleep(10 * speed.ResidentMemoryPeak.INTERVAL_S)
        del block
    assert 40 < memory.peak_mib < 200


@pytest.mark.slow
def test_speed_benchmark_runs_end_to_end(speed, capsys):
    results = speed.main(["--samples", "1024", "--epochs", "2", "--rounds", "1",
                          "--variants", "authors,skmfc"])
    assert [r["variant"] for r in results] == ["authors", "skmfc"]
    for r in results:
        assert r["samples_per_s"] > 0 and 0 < r["peak_fraction"] < 1.5
        assert r["peak_memory_mb"] > 0
    report = capsys.readouterr().out
    header, rows = table_rows(report, "variant")
    assert [row[0] for row in rows] == ["authors", "skmfc"]
    assert rows[0][header.index("vs authors' loop")] == "1.00x"


@pytest.fixture(scope="module")
def facets():
    return load_benchmark("facets")


def test_facets_benchmark_quick(facets, one_thread, tmp_path, capsys):
    # The facet suite on its smallest data set, one seed of two epochs: the script runs
    # and reports what it should (rows, keys), not what the model finds.
    output = tmp_path / "facets.md"
    results = facets.main(["--quick", "--datasets", "digits2", "--seeds", "1", "--epochs", "2",
                           "--max-samples", "200", "--output", str(output)])
    report = capsys.readouterr().out

    assert "QUICK" in report
    assert output.read_text(encoding="utf-8").strip() == report.strip()
    headers, rows = table_rows(report, "arm")  # the summary, one row per arm
    assert [row[0] for row in rows] == ["`old`", "`new`"]
    assert all(row[headers.index("factors meeting all targets")].endswith("/2")
               for row in rows)
    headers, rows = table_rows(report, "factor")
    assert [row[0] for row in rows] == ["digit", "foreground"]
    for arm in ("old", "new"):
        assert all(CELL.match(row[headers.index(f"{arm} ARI")]) for row in rows), report

    (json_file,) = tmp_path.glob("facets_digits2_quick-*.json")
    saved = json.loads(json_file.read_text(encoding="utf-8"))
    assert saved == json.loads(json.dumps(results))
    assert saved["quick"] and saved["complete"] and saved["arms"] == ["old", "new"]
    assert saved["settings"]["seeds"] == [0] and saved["old_defaults"] == facets.OLD_DEFAULTS
    assert set(saved["summary"]) == {"old", "new"}
    (digits,) = saved["datasets"]
    assert digits["factors"] == ["digit", "foreground"] and digits["n_samples"] == 200
    assert digits["fit_params"]["new"]["n_facets"] == 2
    assert digits["fit_params"]["new"]["n_clusters"] == 10
    assert [(fit["arm"], fit["seed"]) for fit in digits["fits"]] == [("old", 0), ("new", 0)]
    for fit in digits["fits"]:
        assert fit["n_iter"] == 2 and fit["seconds"] > 0
        assert [len(row) for row in fit["ari"]] == [2, 2] and len(fit["best_ari"]) == 2
        for key in ("clusters_used", "mean_confidence", "final_elbo", "score", "products"):
            assert key in fit
        assert fit["precision"] == "float32"  # the default network is small
    # Every fit's labels beside the JSON, for studying restart criteria offline.
    assert saved["labels"] == json_file.name.replace(".json", ".labels.npz")
    with np.load(tmp_path / saved["labels"]) as labels:
        assert sorted(labels.files) == ["digits2/new/seed0", "digits2/old/seed0",
                                        "digits2/targets"]
        assert labels["digits2/new/seed0"].shape == (200, 2)
        assert labels["digits2/targets"].shape == (200, 2)
    # KMeans and the GMM at K=3 and K=10, each on the raw data and on a PCA projection.
    assert len(digits["baselines"]) == 8
    factors = digits["summary"]["factors"]
    assert [factor["target"] for factor in factors] == [0.6, 0.9]
    assert all(factor["baseline"] is not None and factor["arms"]["new"]["std"] is None
               for factor in factors)


def test_precision_by_width_reports_both_arithmetics_and_the_step_flops(speed, capsys):
    module = load_benchmark("precision_by_width")
    (row,) = module.main(["--features", "16", "--batches", "8", "--hidden", "8,4",
                          "--steps", "2", "--rounds", "1"])
    assert row["hidden_sizes"] == (8, 4) and row["float32"] > 0 and row["bfloat16"] > 0
    per_example = speed.matmul_flops_per_sample(module.MFCVAE((16,), (8, 4), (5, 5), (10, 10)))
    assert row["step_flops"] == 8 * per_example
    header, rows = table_rows(capsys.readouterr().out, "input features")
    assert rows[0][:3] == ["16", "8", "8, 4"]


def test_guide_ceiling_runs_the_guide_a_fit_would_run(capsys):
    module = load_benchmark("guide_ceiling")
    results = module.main(["--datasets", "stick", "--seeds", "2", "--max-samples", "300"])
    stick = results["stick"]
    assert stick["factors"] == ("upper", "lower") and stick["anchored"] == [2, 2]
    assert stick["ceiling"].min() >= 0.9  # both poses are linear: the guide finds them
    assert "upper        (3 groups) mean" in capsys.readouterr().out


def test_facets_benchmark_can_add_seeds_to_an_earlier_run(facets):
    assert facets.parse_args(["--seeds", "2", "--first-seed", "3"]).seed_list == [3, 4]
    assert facets.parse_args([]).seed_list == [0, 1, 2, 3, 4]
    with pytest.raises(SystemExit):
        facets.parse_args(["--first-seed", "-1"])


def test_facets_selection_study_ranks_restarts_by_each_criterion(facets):
    # Three seeds of one arm: agreement ranks them as their quality does, the ELBO the
    # other way round, confidence is tied.
    fits = [dict(arm="new", seed=seed, mean_factor_ari=quality, agreement=agreement,
                 score=score, mean_confidence=[0.9, 0.9])
            for seed, (quality, agreement, score) in enumerate(
                [(0.2, 0.1, -80.0), (0.9, 0.7, -90.0), (0.5, 0.4, -85.0)])]
    results = dict(arms=["new"], datasets=[dict(name="toy", fits=fits)])
    (row,) = facets.selection_study(results)
    assert row["mean"] == pytest.approx(1.6 / 3) and row["oracle"] == 0.9
    assert row["criteria"]["agreement"] == dict(rho=pytest.approx(1.0), picked=0.9)
    assert row["criteria"]["training ELBO"] == dict(rho=pytest.approx(-1.0), picked=0.2)
    assert row["criteria"]["mean confidence"]["rho"] is None
    assert any("agreement" in line for line in facets.selection_table(results))


def test_facets_agreement_is_added_to_every_fit_of_the_arm(facets):
    same = np.array([[0, 1], [0, 1], [1, 0], [1, 0]])
    other = np.array([[0, 0], [1, 1], [0, 0], [1, 1]])
    records = [dict(arm="new", seed=0), dict(arm="new", seed=1), dict(arm="new", seed=2),
               dict(arm="old", seed=0)]
    facets.add_agreement(records, "new", {0: same, 1: same, 2: other})
    assert records[0]["agreement"] == records[1]["agreement"] > records[2]["agreement"]
    assert "agreement" not in records[3]


def test_single_facet_benchmark_on_the_small_digits(one_thread, tmp_path, capsys):
    # Two arms of one seed and two epochs on scikit-learn's digits: the report has a row
    # per arm with the parameters on top of the defaults, and the JSON every seed's scores.
    single_facet = load_benchmark("single_facet")
    (tmp_path / "results").mkdir()
    records = single_facet.main(["--data", "digits", "--seeds", "1", "--first-seed", "3",
                                 "--epochs", "2", "--arm", "wide:latent_dim=3",
                                 "--output", str(tmp_path / "report.md")])
    report = capsys.readouterr().out
    headers, rows = table_rows(report, "arm")
    assert [row[0] for row in rows] == ["defaults", "wide"]
    assert [row[headers.index("parameters")] for row in rows] == ["-", "latent_dim=3"]
    assert all(re.fullmatch(r"\d\.\d{3}", row[headers.index("Hungarian acc.")]) for row in rows)
    assert [(record["arm"], record["seed"], record["epochs"]) for record in records] == [
        ("defaults", 3, 2), ("wide", 3, 2)]
    (json_file,) = (tmp_path / "results").glob("single_facet-defaults+wide-*.json")
    saved = json.loads(json_file.read_text(encoding="utf-8"))
    assert [record["test"]["hungarian"] for record in saved["records"]] == [
        record["test"]["hungarian"] for record in records]
    assert all(0.0 <= record["test"]["hungarian"] <= 1.0 for record in records)
    with pytest.raises(SystemExit, match="no parameter"):
        single_facet.main(["--data", "digits", "--arm", "bad:not_a_parameter=1"])


def test_conv_speed_benchmark_matches_the_flops_and_reports_every_variant(capsys):
    conv_speed = load_benchmark("conv_speed")
    conv_speed.main(["--image-size", "8", "--batch-size", "16", "--steps", "1",
                     "--rounds", "1"])
    report = capsys.readouterr().out
    headers, rows = table_rows(report, "variant")
    assert [row[0] for row in rows][:2] == ["conv", "conv, channels-last"]
    assert rows[2][0].startswith("MLP, width ")
    conv_flops, mlp_flops = (float(rows[i][headers.index("GFLOP per step")]) for i in (0, 2))
    assert conv_flops > 0 and abs(mlp_flops - conv_flops) <= 0.15 * conv_flops + 0.01
    assert rows[2][headers.index("time per FLOP vs the MLP")] == "1.00x"


def test_the_out_of_core_benchmark_measures_both_ways_of_passing_the_data(tmp_path):
    """benchmarks/out_of_core.py end to end on tiny files: one row per way, with a peak
    memory above the bare interpreter's and a throughput."""
    import os
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "out_of_core.py"), "--sizes", "3000",
         "--features", "8", "--epochs", "1", "--device", "cpu", "--dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| 3,000 |")]
    assert [row.split("|")[2].strip() for row in rows] == ["memmap", "memory"]
    for row in rows:
        cells = [cell.strip() for cell in row.split("|")]
        peak, baseline, samples_per_second = (float(cells[4]), float(cells[5]),
                                              float(cells[7].replace(",", "")))
        assert peak >= baseline > 0 and samples_per_second > 0
