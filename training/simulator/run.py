"""``simulate``: build a world, run its sessions chunk by chunk, write tables and truth."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ranking.mall_clock import fixed_offset_ms
from ranking.settings import MallSettings, SimulatorSettings
from ranking.surfaces import SURFACE_NAMES
from ranking.text import query_id
from training.simulator.behaviour import EXAMINATION_DECAY, BehaviourModel
from training.simulator.creators import Creators, build_creators, creator_rows, truth_rows
from training.simulator.fulfilment import fulfil
from training.simulator.loyalty import Bonds, build_bonds, order_outcomes
from training.simulator.offers import Offers, draw_offers
from training.simulator.sessions import QueryBook, SessionSimulator, plan_sessions
from training.simulator.truth import TRUTH_DIR
from training.simulator.vocabulary import (
    MODIFIERS_EN,
    MODIFIERS_ZH,
    REFERENCE_SOURCES,
    REGIONS,
    TREE,
    leaves,
)
from training.simulator.world import DAY_MS, World, build_world
from training.simulator.writer import TableWriter, write_once

PILOT_SESSIONS = 2_000
EVENT_TABLES = ("impressions", "clicks", "carts", "orders", "shipments", "returns", "reviews",
                "service_tickets")


@dataclass
class SimulationSummary:
    """What a simulation wrote: rows per table, sessions and their requests (pages), and how
    long it took."""

    out_dir: Path
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    sessions: int = 0
    requests: int = 0


def behaviour_model(world: World, mission_sibling_share: float, offers: Offers | None = None,
                    offer_effect: float = 1.0, creators: Creators | None = None,
                    creator_lift: float = 0.0, bonds: Bonds | None = None) -> BehaviourModel:
    """The behaviour model of a freshly built world (the oracle rebuilds it from files, without
    the loyalty ``bonds``: :mod:`training.simulator.loyalty`)."""
    return BehaviourModel(
        leaf_top=world.leaf_top,
        leaf_theme_slot=world.leaf_theme_slot,
        product_leaf=world.product_leaf,
        product_brand=world.product_brand,
        product_big_brand=world.brand_tier[world.product_brand] == 0,
        product_store=world.product_store,
        product_price=world.product_price,
        product_list_price=world.product_list_price,
        product_subsidy=world.product_subsidy,
        product_quality=world.product_quality,
        product_info=world.product_info,
        product_appeal=world.product_appeal,
        product_market_price=world.product_market_price,
        store_reliability=world.store_reliability(),
        user_affinity=world.user_affinity,
        user_price_sensitivity=world.user_price_sensitivity,
        user_quality_sensitivity=world.user_quality_sensitivity,
        user_brand_affinity=world.user_brand_affinity,
        mission_sibling_share=mission_sibling_share,
        product_offers=offers.flags if offers else None,
        user_risk_aversion=offers.user_risk_aversion if offers else None,
        offer_effect=offer_effect,
        product_creator_pull=None if creators is None else creators.product_pull,
        creator_lift=creator_lift,
        bonds=bonds,
    )


def session_count(settings: SimulatorSettings, world: World, sim: SessionSimulator) -> int:
    """Sessions to simulate: the scale's count divided by the pages a session has on average
    (measured on a pilot of up to ``PILOT_SESSIONS`` sessions whose events are thrown away),
    so a scale's requests, rows and time stay about what they were with one page per session."""
    n = min(PILOT_SESSIONS, settings.shape().sessions)
    pilot = plan_sessions(world, n, settings.surface_shares, settings.seed)
    ev = sim.run_chunk(pilot, 0, n, 1, 0, np.random.default_rng([settings.seed, 3]))
    pages = len(ev.requests["request_id"]) / n
    return max(1, round(settings.shape().sessions / pages))


class RequestTruthWriter:
    """Streams the session truth of every request to ``truth/requests.parquet``."""

    def __init__(self, tdir: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.schema = pa.schema([("request_id", pa.int64()), ("session_id", pa.int64()),
                                 ("page", pa.int16()), ("mission_category_id", pa.int32()),
                                 ("mission_strength", pa.float64()), ("mission_revealed", pa.bool_())])
        self.path = tdir / "requests.parquet"
        self.writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")

    def write(self, requests: dict[str, np.ndarray], world: World) -> None:
        import pyarrow as pa

        cols = {k: v for k, v in requests.items() if k != "mission_leaf"}
        cols["mission_category_id"] = world.leaf_category_id[requests["mission_leaf"]].astype(np.int32)
        self.writer.write_table(pa.table({f.name: cols[f.name] for f in self.schema}, schema=self.schema))

    def close(self) -> None:
        self.writer.close()


def simulate(
    out_dir: str | Path,
    settings: SimulatorSettings,
    mall: MallSettings | None = None,
    progress: bool = True,
) -> SimulationSummary:
    """Simulate a shelf-style mall and write its tables to ``out_dir`` (truth in ``truth/``).

    The same settings and seed give byte-identical files.
    """
    started = time.perf_counter()
    mall = mall or MallSettings()
    tz_offset = fixed_offset_ms(mall.timezone)
    if tz_offset is None:
        raise ValueError(f"the simulator needs a zone without DST, got {mall.timezone!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / TRUTH_DIR).mkdir(exist_ok=True)
    shape = settings.shape()
    summary = SimulationSummary(out)
    bar = tqdm(total=shape.sessions, desc="simulating requests", unit="request",
               disable=not progress, unit_scale=True)

    world = build_world(
        shape, settings.seed, settings.start_date, settings.new_store_share, tz_offset
    )
    offers = draw_offers(world, settings.offer_rates, settings.seed)
    summary.rows.update(_write_catalog(out, world, tz_offset, offers))
    creators = build_creators(world, settings)
    if creators.count:
        summary.rows.update(_write_creators(out, creators))
    bonds = build_bonds(world, settings)
    model = behaviour_model(world, settings.mission_sibling_share, offers, settings.offer_effect, creators,
                            settings.creator_lift, bonds)
    sim = SessionSimulator(world, model, settings, tz_offset)
    n_sessions = session_count(settings, world, sim)
    plan = plan_sessions(world, n_sessions, settings.surface_shares, settings.seed)

    writers = {name: TableWriter(out, name) for name in EVENT_TABLES
               + (("creator_orders",) if creators.count else ())}
    truth_requests = RequestTruthWriter(out / TRUTH_DIR)
    query_texts: dict[int, tuple[int, str, int, int]] = {}
    n_brands = len(world.brand_name)
    order_base = 0
    ticket_base = 0
    request_base = 1
    for i, (lo, hi) in enumerate(chunk_bounds(plan.ts_ms[:n_sessions], settings.chunk_sessions,
                                              settings.loyalty_update_days)):
        bonds.learn(int(plan.ts_ms[lo]))
        rng = np.random.default_rng([settings.seed, 2, i])
        ev = sim.run_chunk(plan, lo, hi, request_base=request_base, order_base=order_base, rng=rng)
        request_base += len(ev.requests["request_id"])
        truth_requests.write(ev.requests, world)
        bar.update(len(ev.requests["request_id"]))
        imp = ev.impressions
        combos = imp.pop("query_combo")
        qids = _query_ids(combos, query_texts, world, n_brands)
        imp["query_id"] = qids
        imp["surface"] = SURFACE_NAMES[imp["surface"]]
        imp["variant"] = np.full(len(qids), "logging_policy")
        writers["impressions"].write(imp)
        writers["clicks"].write(ev.clicks)
        writers["carts"].write(ev.carts)
        after = _after_orders(world, creators, bonds, ev.orders, ticket_base, rng,
                              np.random.default_rng([settings.seed, 6, i]), writers)
        order_base += len(ev.orders["order_id"])
        ticket_base += len(after["service_tickets"]["ticket_id"])
    bar.close()
    for name, w in writers.items():
        w.close()
        summary.rows[name] = w.rows
    truth_requests.close()
    summary.sessions, summary.requests = n_sessions, request_base - 1

    ordered = sorted(query_texts.values())
    summary.rows["queries"] = write_once(out, "queries", {
        "query_id": np.array([q[0] for q in ordered], dtype=np.int64),
        "text": [q[1] for q in ordered],
    })
    _write_truth(out, world, ordered, settings, offers)
    _write_people_truth(out / TRUTH_DIR, creators, bonds)
    summary.seconds = time.perf_counter() - started
    return summary


def _after_orders(world: World, creators: Creators, bonds: Bonds, orders: dict[str, np.ndarray],
                  ticket_base: int, rng: np.random.Generator, attribution_rng: np.random.Generator,
                  writers: dict[str, TableWriter]) -> dict[str, dict[str, np.ndarray]]:
    """A chunk's orders credited to creators, fulfilled, queued as loyalty outcomes and written
    with what followed them (returned)."""
    credited = creators.attribute(orders["product_id"], attribution_rng)
    misled = (np.where(credited >= 0, 1.0 - creators.conduct[np.maximum(credited, 0)], 0.0)
              if creators.count else None)
    after = fulfil(world, orders, ticket_base, rng, misled)
    promised = world.leaf_promised_days[world.product_leaf[orders["product_id"]]]
    bonds.record(orders["user_id"], orders["store_id"].astype(np.int64),
                 *order_outcomes(orders, after, promised))
    if creators.count:
        mine = credited >= 0
        writers["creator_orders"].write({"order_id": orders["order_id"][mine],
                                         "product_id": orders["product_id"][mine],
                                         "creator_id": credited[mine]})
    writers["orders"].write(orders)
    for name, cols in after.items():
        writers[name].write(cols)
    return after


def _query_ids(combos: np.ndarray, book: dict[int, tuple[int, str, int, int]], world: World,
               n_brands: int) -> np.ndarray:
    """Map query combo keys to stable query ids, writing new texts into ``book``."""
    out = np.full(len(combos), -1, dtype=np.int64)
    search = combos >= 0
    if not search.any():
        return out
    uniq, inverse = np.unique(combos[search], return_inverse=True)
    ids = np.empty(len(uniq), dtype=np.int64)
    leaf_words = [(lf.zh, lf.en) for _, _, lf in leaves()]
    for j, key in enumerate(uniq.tolist()):
        if key in book:
            ids[j] = book[key][0]
            continue
        leaf, brand, modifier, english = (int(v[0]) for v in QueryBook.decode(np.array([key]), n_brands))
        zh, en = leaf_words[leaf]
        brand_name = world.brand_name[brand] if brand >= 0 else ""
        if english:
            mod = MODIFIERS_EN[modifier] if modifier >= 0 else ""
            text = " ".join(p for p in (brand_name.lower(), mod, en) if p)
        else:
            mod = MODIFIERS_ZH[modifier] if modifier >= 0 else ""
            text = f"{brand_name}{mod}{zh}"
        qid = query_id(text)
        book[key] = (qid, text, leaf, brand)
        ids[j] = qid
    out[search] = ids[inverse]
    return out


def _write_catalog(out: Path, w: World, tz_offset: int, offers: Offers) -> dict[str, int]:
    rows: dict[str, int] = {}
    cats = {"category_id": [], "parent_id": [], "level": [], "name": [], "name_en": [],
            "theme": [], "consumable": []}
    for t, top in enumerate(TREE):
        for k, v in (("category_id", t + 1), ("parent_id", None), ("level", 0), ("name", top.zh),
                     ("name_en", top.en), ("theme", top.theme), ("consumable", top.consumable)):
            cats[k].append(v)
    for (t, top, leaf), cid in zip(leaves(), w.leaf_category_id, strict=True):
        for k, v in (("category_id", int(cid)), ("parent_id", t + 1), ("level", 1),
                     ("name", leaf.zh), ("name_en", leaf.en), ("theme", top.theme),
                     ("consumable", top.consumable)):
            cats[k].append(v)
    rows["categories"] = write_once(out, "categories", cats)
    tiers = np.array(["big_brand", "native_fast_growing", "white_label"])
    rows["brands"] = write_once(out, "brands", {
        "brand_id": np.arange(len(w.brand_name), dtype=np.int32),
        "name": w.brand_name,
        "tier": tiers[w.brand_tier],
    })
    regions = np.array(REGIONS)
    n_s = len(w.store_opened_ms)
    rows["stores"] = write_once(out, "stores", {
        "store_id": np.arange(n_s, dtype=np.int32),
        "name": [f"{regions[r]}{'新店' if new else '店铺'}{i}" for i, (r, new) in
                 enumerate(zip(w.store_region, w.store_is_new, strict=True))],
        "opened_at": w.store_opened_ms,
        "region": regions[w.store_region],
    })
    n_p = w.n_products
    rows["products"] = write_once(out, "products", {
        "product_id": np.arange(n_p, dtype=np.int64),
        "store_id": w.product_store.astype(np.int32),
        "brand_id": w.product_brand.astype(np.int32),
        "category_id": w.leaf_category_id[w.product_leaf].astype(np.int32),
        "comparable_group_id": w.product_group.astype(np.int64),
        "title": w.product_title,
        "attribute_count": w.product_attributes,
        "image_count": w.product_images,
        "price": w.product_price,
        "list_price": w.product_list_price,
        "stock": w.product_stock,
        "subsidy": w.product_subsidy,
        "banned": w.product_banned,
        "listed_at": w.product_listed_ms,
        **offers.flags,
        "subsidy_depth": offers.subsidy_depth,
    })
    rows["reference_prices"] = write_once(out, "reference_prices", {
        "comparable_group_id": w.reference_group.astype(np.int64),
        "source": np.array(REFERENCE_SOURCES)[w.reference_source],
        "price": w.reference_price,
        "observed_at": w.reference_ms,
    })
    n_u = len(w.user_region)
    rows["users"] = write_once(out, "users", {
        "user_id": np.arange(n_u, dtype=np.int64),
        "region": regions[w.user_region],
        "signup_at": w.user_signup_ms,
    })
    return rows


def _write_truth(out: Path, w: World, queries: list[tuple[int, str, int, int]],
                 settings: SimulatorSettings, offers: Offers) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    tdir = out / TRUTH_DIR

    def put(name: str, cols: dict) -> None:
        pq.write_table(pa.table(cols), tdir / f"{name}.parquet", compression="zstd")

    put("stores", {
        "store_id": np.arange(len(w.store_opened_ms), dtype=np.int32),
        "logistics_speed": w.store_logistics_speed,
        "service_quality": w.store_service_quality,
        "stability": w.store_stability,
        "quality_control": w.store_quality_control,
        "is_new": w.store_is_new,
    })
    put("products", {
        "product_id": np.arange(w.n_products, dtype=np.int64),
        "quality": w.product_quality,
        "info_completeness": w.product_info,
        "appeal": w.product_appeal,
        "market_price": w.product_market_price,
        "logging_popularity": w.product_popularity,
    })  # creator_pull and users' loyalty: added by _write_people_truth
    put("users", {
        "user_id": np.arange(len(w.user_region), dtype=np.int64),
        "price_sensitivity": w.user_price_sensitivity,
        "quality_sensitivity": w.user_quality_sensitivity,
        "brand_affinity": w.user_brand_affinity,
        "language_en": w.user_language_en,
        "risk_aversion": offers.user_risk_aversion,
    })
    np.save(tdir / "user_affinity.npy", w.user_affinity, allow_pickle=False)
    put("queries", {
        "query_id": pa.array([q[0] for q in queries], pa.int64()),
        "category_id": pa.array([int(w.leaf_category_id[q[2]]) for q in queries], pa.int32()),
        "brand_id": pa.array([q[3] if q[3] >= 0 else None for q in queries], pa.int32()),
    })
    width = max(settings.page_size_search, settings.page_size_homepage)
    pos = np.arange(1, width + 1)
    surf = np.repeat(SURFACE_NAMES, width)
    put("position_bias", {
        "surface": surf,
        "position": np.tile(pos, len(SURFACE_NAMES)).astype(np.int16),
        "examination": np.concatenate([pos ** -d for d in EXAMINATION_DECAY]),
    })
    (tdir / "params.json").write_text(json.dumps({
        "seed": settings.seed,
        "scale": settings.scale,
        "start_date": settings.start_date.isoformat(),
        "days": w.days,
        "randomised_share": settings.randomised_share,
        "randomised_top": settings.randomised_top,
        "mission_boost": settings.mission_boost,
        "mission_sibling_share": settings.mission_sibling_share,
        "creator_lift": settings.creator_lift,
        "mission_half_life_pages": settings.mission_half_life_pages,
        "session_max_pages": settings.session_max_pages,
        "session_continue_probability": settings.session_continue_probability,
        "offer_effect": settings.offer_effect,
    }, indent=2, sort_keys=True))


def chunk_bounds(ts_ms: np.ndarray, max_sessions: int, max_days: float) -> list[tuple[int, int]]:
    """(lo, hi) session ranges of at most ``max_sessions`` sessions and ``max_days`` days each
    (sessions are in time order), so loyalty bonds learn between chunks. Request ids follow time
    within a chunk; a session begun just before a cut may log a later page after the next chunk's
    first, with a lower id (docs/simulator.md)."""
    out, lo, n = [], 0, len(ts_ms)
    span = int(max_days * DAY_MS)
    while lo < n:
        hi = min(lo + max_sessions, int(np.searchsorted(ts_ms, ts_ms[lo] + span)), n)
        hi = max(hi, lo + 1)
        out.append((lo, hi))
        lo = hi
    return out


def _write_creators(out: Path, creators: Creators) -> dict[str, int]:
    return {"creators": write_once(out, "creators", creator_rows(creators)),
            "creator_content": write_once(out, "creator_content", creators.content)}


def _write_people_truth(tdir: Path, creators: Creators, bonds: Bonds) -> None:
    """Creators' traits, each product's creator pull, users' loyalty and the final bonds."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def put(name: str, table: pa.Table) -> None:
        pq.write_table(table, tdir / f"{name}.parquet", compression="zstd")

    if creators.count:
        put("creators", pa.table(truth_rows(creators)))
    products = pq.read_table(tdir / "products.parquet")
    put("products", products.append_column("creator_pull", pa.array(creators.product_pull)))
    users = pq.read_table(tdir / "users.parquet")
    put("users", users.append_column("loyalty", pa.array(bonds.loyalty)))
    put("loyalty_bonds", pa.table(bonds.rows()))
