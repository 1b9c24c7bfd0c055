"""kdviz.session: the set-up call picks profile, seed and device and says what it chose."""
from __future__ import annotations

from kdviz import session


def test_setup_prints_what_it_chose(capsys):
    chosen = session.setup(seed=3, profile="quick", device="cpu")
    assert capsys.readouterr().out.startswith("kdviz | profile: quick | seed: 3 | device: cpu")
    assert chosen.profile.name == "quick" and chosen.seed == 3 and chosen.device.type == "cpu"
