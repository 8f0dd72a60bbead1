"""The benches' shared reporting."""

import json
from pathlib import Path

from bench.report import write_json


def test_results_are_written_into_a_folder_that_does_not_exist_yet(tmp_path: Path) -> None:
    # `make bench-m3` on a fresh clone writes bench-results/m3.json before the folder exists.
    out = tmp_path / "bench-results" / "m3.json"
    write_json(out, {"series": 3003, "rows": [{"smape": 12.3}]})
    assert json.loads(out.read_text()) == {"series": 3003, "rows": [{"smape": 12.3}]}
