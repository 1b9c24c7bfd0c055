"""kdviz.lecture: the dashboard reads the prepared cache and trains nothing; without it, it says what to run."""
from __future__ import annotations

import pytest

from kdviz import lecture


def test_without_a_cache_the_dashboard_names_what_is_missing_and_trains_nothing(isolated_home):
    box = lecture.dashboard("quick")
    message = box.children[-1].value
    assert "not in the cache yet" in message and "python -m kdviz prepare --profile quick" in message
    assert repr(box) == "[the lecture dashboard: its cache is not prepared yet]"
    assert not isolated_home.exists() or not any(path.is_file() for path in isolated_home.rglob("*"))


def test_the_pareto_tab_reads_the_committed_results(tmp_path):
    rows, provenance = lecture.results_rows()
    assert len(rows) >= 10 and all({"name", "family", "accuracy", "bytes"} <= set(r) for r in rows)
    assert provenance.startswith("measured by scripts/readme_results.py in the full profile")
    with pytest.raises(FileNotFoundError, match="scripts/readme_results.py writes it"):
        lecture.results_rows(tmp_path / "results.json")
