"""The HTTP layer stays thin: short functions, recall reached through the engine, stable API.

An AST scan of ``serving/``: no function is longer than a screen (60 lines), and nothing
under ``ranking/recall/`` is imported except the one process-wide knob the lifespan sets
before any engine loads (FAISS's search threads); ``create_app`` defines no route or
closure. The routes' (path, method, operation id) are the ones the API has always had.
"""

from __future__ import annotations

import ast
from pathlib import Path

from ranking.settings import load_settings
from serving.app import create_app

SERVING = Path(__file__).resolve().parents[1] / "serving"
MAX_LINES = 60
# what serving/ may import from ranking/recall/ directly (everything else goes through the engine)
RECALL_PUBLIC = {"ranking.recall.vector_index": {"set_search_threads"}}


def _modules() -> dict[Path, ast.Module]:
    return {p: ast.parse(p.read_text(), str(p)) for p in sorted(SERVING.rglob("*.py"))}


def test_no_function_in_serving_is_longer_than_a_screen() -> None:
    long = [f"{p.relative_to(SERVING.parent)}:{n.lineno} {n.name} ({n.end_lineno - n.lineno + 1} lines)"
            for p, tree in _modules().items() for n in ast.walk(tree)
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
            and n.end_lineno - n.lineno + 1 > MAX_LINES]
    assert not long, long


def test_the_scan_sees_a_long_function() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    tree = ast.parse(f"def f():\n{body}\n")
    node = tree.body[0]
    assert node.end_lineno - node.lineno + 1 == MAX_LINES + 1


def _imports(tree: ast.Module) -> list[tuple[str, set[str]]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, set()) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.module, {a.name for a in node.names}))
    return out


def test_serving_reaches_recall_only_through_the_engine() -> None:
    wrong = []
    for path, tree in _modules().items():
        for module, names in _imports(tree):
            if module.startswith("training"):
                wrong.append(f"{path.name}: {module}")
            recall = module == "ranking.recall" or module.startswith("ranking.recall.")
            if recall and not (names and names <= RECALL_PUBLIC.get(module, set())):
                wrong.append(f"{path.name}: {module} {sorted(names)}")
    assert not wrong, wrong


def test_create_app_only_wires() -> None:
    tree = ast.parse((SERVING / "app.py").read_text())
    create_app_def = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "create_app")
    nested = [n.name for n in ast.walk(create_app_def)
              if n is not create_app_def and isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    assert nested == []


MERCH = ["merchandising"]


def test_the_api_keeps_its_paths_and_operation_ids() -> None:
    spec = create_app(load_settings([]), load=False).openapi()
    ops = [(path, method, op["operationId"], op.get("tags"))
           for path, methods in spec["paths"].items() for method, op in methods.items()]
    assert ops == [
        ("/v1/search", "post", "search_v1_search_post", ["ranking"]),
        ("/v1/homepage", "post", "homepage_v1_homepage_post", ["ranking"]),
        ("/v1/rerank", "post", "rerank_v1_rerank_post", ["ranking"]),
        ("/v1/products/{product_id}/similar", "get",
         "similar_v1_products__product_id__similar_get", ["ranking"]),
        ("/v1/channel/subsidy", "post", "subsidy_channel_v1_channel_subsidy_post", ["channels"]),
        ("/v1/channel/category/{category_id}", "post", "category_page_v1_channel_category__category_id__post",
         ["channels"]),
        ("/v1/channel/categories", "get", "top_categories_v1_channel_categories_get", ["channels"]),
        ("/v1/channel/subsidy/pacing", "get", "subsidy_pacing_v1_channel_subsidy_pacing_get", ["channels"]),
        ("/v1/events", "post", "events_v1_events_post", ["events"]),
        ("/v1/demo/users", "get", "demo_users_v1_demo_users_get", ["demo"]),
        ("/healthz", "get", "healthz_healthz_get", ["operations"]),
        ("/readyz", "get", "readyz_readyz_get", ["operations"]),
        ("/metrics", "get", "prometheus_metrics_get", ["operations"]),
        ("/v1/bundle", "get", "bundle_v1_bundle_get", ["operations"]),
        ("/admin/reload", "post", "reload_admin_reload_post", ["admin"]),
        ("/admin/live/shopper", "get", "live_shopper_admin_live_shopper_get", ["admin"]),
        ("/v1/merchant/stores/{store_id}/traffic", "get",
         "store_traffic_report_v1_merchant_stores__store_id__traffic_get", ["merchant"]),
        ("/v1/catalog/products", "put", "put_products_v1_catalog_products_put", ["catalog"]),
        ("/v1/catalog/bans", "post", "post_bans_v1_catalog_bans_post", ["catalog"]),
        ("/v1/catalog/stores", "put", "put_stores_v1_catalog_stores_put", ["catalog"]),
        ("/v1/rules", "get",
         "list_rules_v1_rules_get", MERCH),
        ("/v1/rules", "post",
         "create_rule_v1_rules_post", MERCH),
        ("/v1/rules/{rule_id}", "get",
         "get_rule_v1_rules__rule_id__get", MERCH),
        ("/v1/rules/{rule_id}", "put",
         "replace_rule_v1_rules__rule_id__put", MERCH),
        ("/v1/rules/{rule_id}", "delete",
         "delete_rule_v1_rules__rule_id__delete", MERCH),
        ("/v1/rules/{rule_id}/history", "get",
         "rule_history_v1_rules__rule_id__history_get", MERCH),
        ("/v1/synonyms", "get",
         "list_synonyms_v1_synonyms_get", MERCH),
        ("/v1/synonyms", "post",
         "create_synonym_v1_synonyms_post", MERCH),
        ("/v1/synonyms/{synonym_id}", "get",
         "get_synonym_v1_synonyms__synonym_id__get", MERCH),
        ("/v1/synonyms/{synonym_id}", "put",
         "replace_synonym_v1_synonyms__synonym_id__put", MERCH),
        ("/v1/synonyms/{synonym_id}", "delete",
         "delete_synonym_v1_synonyms__synonym_id__delete", MERCH),
        ("/v1/synonyms/{synonym_id}/history", "get",
         "synonym_history_v1_synonyms__synonym_id__history_get", MERCH),
        ("/v1/merchandising/history", "get",
         "merchandising_history_v1_merchandising_history_get", MERCH),
        ("/v1/merchandising/export", "get",
         "export_book_v1_merchandising_export_get", MERCH),
        ("/v1/merchandising/import", "post",
         "import_book_v1_merchandising_import_post", MERCH),
        ("/v1/rules/preview", "post", "rules_preview_v1_rules_preview_post", MERCH),
    ]


def test_similar_documents_the_default_k_of_the_settings() -> None:
    spec = create_app(load_settings(["serving.similar_k=7"]), load=False).openapi()
    params = spec["paths"]["/v1/products/{product_id}/similar"]["get"]["parameters"]
    assert next(p for p in params if p["name"] == "k")["schema"]["default"] == 7


def test_the_ranking_routes_are_the_apps_own_so_a_page_is_matched_once() -> None:
    """Added to the app's router, not included: an included router's route is matched twice a
    request behind FastAPI's route contexts (serving.routes.ranking.add_ranking_routes)."""
    from serving.routes.ranking import RankingRoute

    app = create_app(load_settings([]), load=False)
    own = {r.path: r for r in app.router.routes if isinstance(r, RankingRoute)}
    assert sorted(own) == ["/v1/homepage", "/v1/rerank", "/v1/search"]
