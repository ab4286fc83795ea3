"""Training's live-feature replay alone: ``python -m bench.live_replay DATA [--save FILE]``.

Replays a mall folder's logs for the cards ``build_ranking_frame`` featurises with the
effective settings (after the warm-up, ``training.request_sample``) and prints JSON: cards,
requests, wall and CPU seconds of :func:`training.learning.live_replay.live_feature_rows`, and
milliseconds per request. ``--save FILE`` writes the values (``.npy``, cards x live columns) so
two versions can be compared value by value. The numbers in docs/live.md come from this command.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path, help="a mall folder")
    parser.add_argument("--save", type=Path, help="write the values here (.npy)")
    args = parser.parse_args()
    from ranking.settings import load_settings
    from training.data.mall_data import load_mall
    from training.learning.dataset import card_columns, cut_days, mall_day_zero_ms, wanted_rows
    from training.learning.live_replay import live_feature_rows

    settings = load_settings()
    mall = load_mall(args.data)
    imp = mall["impressions"]
    day = card_columns(imp, mall, mall_day_zero_ms(mall, settings.mall.timezone), settings)[0]
    cuts = cut_days(int(day.max()) + 1, settings)
    rows = np.flatnonzero(wanted_rows(day, imp.request_id.to_numpy(), cuts[0] if cuts else None, settings))
    requests = len(np.unique(imp.request_id.to_numpy()[rows]))
    wall, cpu = time.perf_counter(), time.process_time()
    values = live_feature_rows(mall, imp, rows, settings)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if args.save:
        np.save(args.save, values)
    print(json.dumps({"cards": len(rows), "requests": requests, "impressions": len(imp),
                      "wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
                      "ms_per_request": round(1000 * wall / max(requests, 1), 3)}))


if __name__ == "__main__":
    main()
