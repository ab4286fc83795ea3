"""``experiment channel-pacing``: a simulated day of the subsidy channel, pacing on against off."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ranking.settings import load_settings
from training.experiments.channel_pacing import channel_pacing, day_of_pages


def test_the_days_pages_follow_the_traffic_curve_in_time_order():
    settings = load_settings([])
    minutes, hours = day_of_pages(settings, 5000, seed=3)
    assert (np.diff(minutes) >= 0).all() and (hours == minutes // 60).all()
    curve = np.array(settings.channels.pacing_hourly_traffic)
    share = np.bincount(hours, minlength=24) / len(hours)
    assert np.abs(share - curve / curve.sum()).max() < 0.02


def test_pacing_brings_the_brands_closer_to_their_promise(small_mall: Path, small_models: Path):
    # promises summing to about the day's impressions (11 brands x 110 ~ 60 pages x 20 cards). The
    # guarantee is not required here: with it only 18 of the small mall's products are eligible, every
    # page shows all of them and pacing has nothing to choose (35 without it)
    settings = load_settings(["channels.pacing_daily_promise=110",
                              "channels.subsidy_requires_authentic=false"])
    result = channel_pacing(small_models / "latest", small_mall, settings, pages=60, page_size=20)
    paced, unpaced = result["arms"]["paced"], result["arms"]["unpaced"]
    assert paced["impressions"] == unpaced["impressions"] == 60 * 20
    assert paced["brands"] == unpaced["brands"] >= 5
    assert paced["mean_abs_pacing_error"] < unpaced["mean_abs_pacing_error"]
    for outcome in ("orders", "gmv"):
        lift = result["paced_over_unpaced"][outcome]
        assert lift["ci95"][0] <= lift["lift"] <= lift["ci95"][1]


def test_the_closed_loop_sends_its_channel_share_to_the_subsidy_channel():
    from training.experiments.closed_loop import Shoppers

    class NoMall(Shoppers):
        def __init__(self, share: float) -> None:  # only the session draws: no mall needed
            self.seed, self.channel_share = 7, share

    assert {NoMall(0.0).surface_of(s) for s in range(200)} == {"homepage"}
    assert {NoMall(1.0).surface_of(s) for s in range(200)} == {"channel"}
    share = np.mean([NoMall(0.3).surface_of(s) == "channel" for s in range(4000)])
    assert abs(share - 0.3) < 0.03
    # a session's surface is its own draw: the same session is the same shopper in both arms
    assert [NoMall(0.3).surface_of(s) for s in range(50)] == [NoMall(0.3).surface_of(s) for s in range(50)]
