"""The report is a self-contained page: its plots are real PNGs embedded in the HTML. (It was also checked in
headless Chromium: see docs/report.md.)"""

import base64
import re
from pathlib import Path

from adaptlab.store import CostRow, MetricRow, RunResult, Store


def test_report_html_embeds_decodable_plots_and_orders_methods(tmp_path: Path, cli):
    with Store(tmp_path / "results.sqlite") as store:
        for method, acc in (("ft", 0.6), ("pretrained", 0.5), ("icl", 0.9)):
            for seed in (0, 1):
                store.save(RunResult(
                    run_id=f"{method}{seed}", model="m", dataset="d", method=method, seed=seed, config={},
                    scores=[], metrics=[MetricRow(s, "per_char", acc, 0.05, 0.5, 50) for s in ("reversal", "rephrase")],
                    costs=[CostRow("query", "per_query", tokens_processed=100, flops=1e6, queries=100)],
                    info={"model_params": 10},
                ))
    assert cli("report", tmp_path)[0] == 0
    html = (tmp_path / "report.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == 2  # accuracy per split; accuracy against cost ("which to use when")
    for image in images:
        png = base64.b64decode(image)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert "Which to use when" in html and "Pareto front" in html
    assert "http://" not in html and "https://" not in html  # nothing fetched from elsewhere
    md = (tmp_path / "report.md").read_text()
    rows = [line.split("|")[1].strip() for line in md.splitlines() if line.startswith("| ") and "±" in line]
    assert rows == ["pretrained", "icl", "ft"]  # the study's order, not alphabetical


def test_report_metric_option(tmp_path: Path, cli):
    with Store(tmp_path / "results.sqlite") as store:
        store.save(RunResult(
            run_id="r", model="m", dataset="d", method="icl", seed=0, config={}, scores=[],
            metrics=[MetricRow("reversal", "per_char", 0.9, 0.05, 0.5, 50),
                     MetricRow("reversal", "calibrated", 0.4, 0.05, 0.5, 50)],
            costs=[], info={},
        ))
    assert cli("report", tmp_path, "--metric", "calibrated")[0] == 0
    assert "0.400 ± 0.050" in (tmp_path / "report.md").read_text()
    code, _, err = cli("report", tmp_path, "--metric", "vibes")
    assert code == 2 and "unknown metric 'vibes'" in err


def test_pareto_front():
    from adaptlab.report.build import pareto_front

    points = [(1.0, 0.5), (2.0, 0.9), (3.0, 0.8), (0.5, 0.4), (2.0, 0.7), (5.0, 0.95)]
    assert pareto_front(points) == [3, 0, 1, 5]  # by cost; (3.0, 0.8) and (2.0, 0.7) are dominated
