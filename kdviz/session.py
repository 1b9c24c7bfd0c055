"""The one set-up call every notebook starts with: profile, seed, device and the plot style (introduced in 00)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from kdviz import config
from kdviz.plots import use_style


@dataclass(frozen=True)
class Session:
    """What ``setup`` chose; notebooks pass ``session.device`` and ``session.profile`` on."""

    profile: config.Profile
    seed: int
    device: torch.device

    def __str__(self) -> str:
        threads = f" ({torch.get_num_threads()} threads)" if self.device.type == "cpu" else ""
        return f"profile: {self.profile.name} | seed: {self.seed} | device: {self.device}{threads}"


def setup(seed: int = 0, profile: str | None = None, device: str | None = None, quiet: bool = False) -> Session:
    """Pick profile, seed and device, apply the workbook's plot style, and print what was chosen."""
    session = Session(config.get_profile(profile), seed, config.pick_device(device))
    config.seed_everything(seed)
    use_style()
    if not quiet:
        print(f"kdviz | {session}")
    return session
