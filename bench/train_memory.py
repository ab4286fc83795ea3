"""Where training's memory peaks: ``train_bundle`` with the process's resident memory and the
main thread's stack sampled every 0.1 s.

``python -m bench.train_memory DATA MODELS [section.field=value ...]`` trains as ``shelfrank
train`` does (the overrides as ``--set``), then prints the peak and, for each place in the code
(the three innermost frames), the highest resident memory seen while it ran, highest first.
The sampler holds a little memory of its own. docs/scaling.md quotes it for the large mall
(``training.request_sample=0.1``).
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback

import psutil

from ranking.settings import load_settings
from training.learning.train import train_bundle

EVERY_SECONDS = 0.1


def _where(frame, depth: int) -> str:
    stack = traceback.extract_stack(frame)[-depth:]
    return " < ".join(f"{os.path.basename(f.filename)}:{f.lineno}:{f.name}" for f in reversed(stack))


def main() -> None:
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    data, models, overrides = sys.argv[1], sys.argv[2], sys.argv[3:]
    process, main_thread = psutil.Process(), threading.main_thread().ident
    highest: dict[str, int] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            rss = process.memory_info().rss
            frame = sys._current_frames().get(main_thread)
            if frame is not None:
                where = _where(frame, 3)
                highest[where] = max(highest.get(where, 0), rss)
            time.sleep(EVERY_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    train_bundle(data, models, load_settings(overrides), progress=False)
    done.set()
    sampler.join()
    ranked = sorted(highest.items(), key=lambda kv: -kv[1])
    print(f"peak {ranked[0][1] / 1e9:.2f} GB")
    for where, rss in ranked[:25]:
        print(f"{rss / 1e9:6.2f} GB  {where}")


if __name__ == "__main__":
    main()
