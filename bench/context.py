"""What a benchmark gets: cached simulated malls, scratch space, and a measured runner."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Measured:
    """One measured command: wall seconds, peak resident memory (MB) and exit code."""

    seconds: float
    peak_mb: float
    returncode: int


@dataclass
class BenchContext:
    """Handed to every ``bench(ctx)``."""

    work_dir: Path
    scales: list[str]
    shared_datasets: Path | None
    seed: int = 7

    def shelfrank(self) -> list[str]:
        return [sys.executable, "-m", "shelfrank"]

    def run(self, args: list[str], check: bool = True) -> Measured:
        """Run a command in a child process; measure its wall time and peak memory."""
        started = time.perf_counter()
        proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        proc.returncode = code
        if check and code != 0:
            raise RuntimeError(f"{' '.join(args)} exited with {code}")
        return Measured(seconds, usage.ru_maxrss / 1024.0, code)

    def mall_path(self, scale: str) -> Path:
        return self.work_dir / f"mall-{scale}-seed{self.seed}"

    def mall(self, scale: str) -> Path:
        """A simulated mall of this scale (simulated once, then reused)."""
        path = self.mall_path(scale)
        if not (path / "truth" / "params.json").exists():
            self.run([*self.shelfrank(), "simulate", "--scale", scale, "--seed", str(self.seed),
                      "--out", str(path), "--no-progress"])
        return path

    def bundle(self, scale: str) -> Path:
        """A trained bundle for this scale's mall (trained once, then reused): models/latest."""
        models = self.work_dir / f"models-{scale}"
        if not (models / "latest" / "manifest.json").exists():
            self.run([*self.shelfrank(), "train", "--data", str(self.mall(scale)), "--out", str(models),
                      "--no-progress"])
        return models / "latest"
