"""How well issue 29's scores read the simulator's truth: the creator reputation score against
the creators' latent traits, and each returning-customer dimension against the store-level
truth it should find (docs/scores.md, "Do the scores measure what they claim?").

Store truths, built from ``truth/``: **value** = the mean ``-log(price / market price)`` of the
store's listings; **content quality** = the view-weighted content quality of the creators
featuring its products (stores without content left out); **bond** = the mean final loyalty
bond of its buyers (``truth/loyalty_bonds.parquet``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from ranking.scores.compute import PlatformScores

CREATOR_PAIRS = (("creator_reputation", "reputation"), ("creator_content", "content_quality"),
                 ("creator_product", "product_judgement"), ("creator_service", "service_conduct"))
STORE_PAIRS = (("returning_quality_value", "value"), ("returning_service", "service_quality"),
               ("returning_content", "content_quality"), ("returning_repeat", "bond"))


def store_truth(mall: str | Path) -> pd.DataFrame:
    """The simulator's store truth with the value, content quality and bond columns above."""
    mall = Path(mall)
    truth = mall / "truth"
    st = pd.read_parquet(truth / "stores.parquet").set_index("store_id")
    tp = pd.read_parquet(truth / "products.parquet")
    products = pd.read_parquet(mall / "products.parquet", columns=["product_id", "store_id", "price"])
    value = -np.log(products.price.to_numpy() / tp.market_price.to_numpy())
    st["value"] = pd.Series(value).groupby(products.store_id.to_numpy()).mean()
    if (truth / "creators.parquet").exists():
        creators = pd.read_parquet(truth / "creators.parquet").set_index("creator_id")
        content = pd.read_parquet(mall / "creator_content.parquet")
        store = products.set_index("product_id").store_id.reindex(content.product_id).to_numpy()
        weighted = creators.content_quality.reindex(content.creator_id).to_numpy() * content.views.to_numpy()
        by = pd.DataFrame({"store_id": store, "q": weighted,
                           "views": content.views.to_numpy()}).groupby("store_id")
        st["content_quality"] = by.q.sum() / by.views.sum()
    else:
        st["content_quality"] = np.nan
    st["bond"] = pd.read_parquet(truth / "loyalty_bonds.parquet").groupby("store_id").bond.mean()
    return st


def truth_correlations(scores: PlatformScores, mall: str | Path) -> dict[str, float]:
    """Spearman of each creator reputation and returning-customer dimension with its truth
    (keys ``score_vs_truth``; a pair without data is left out)."""
    out: dict[str, float] = {}
    creators_truth = Path(mall) / "truth" / "creators.parquet"
    if scores.creators is not None and len(scores.creators) and creators_truth.exists():
        c = scores.creators.join(pd.read_parquet(creators_truth).set_index("creator_id"))
        for score, latent in CREATOR_PAIRS:
            out[f"{score}_vs_{latent}"] = float(spearmanr(c[score], c[latent]).statistic)
    s = scores.stores.join(store_truth(mall))
    for score, latent in STORE_PAIRS:
        pair = s[[score, latent]].dropna()
        if len(pair) > 2:
            out[f"{score}_vs_{latent}"] = float(spearmanr(pair[score], pair[latent]).statistic)
    return out
