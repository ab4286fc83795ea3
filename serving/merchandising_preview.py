"""The operator's preview: one shopper request ranked with the rules in force and with a draft.

:func:`preview` builds the engine's request once (:meth:`serving.routes.ranking.RankingCall.prepare`,
the path ``/v1/search`` and ``/v1/homepage`` take: spelling, the shopper's live view, and the book
of rules and synonyms the service hands every request), then ranks it twice through
:func:`serving.pages.serve_page` under the same experiment arm, request id and seed: once with
the request's own book (the page the shopper gets now) and once with the draft book (the draft
rule and synonym set added, the ``without`` ids left out). Nothing is logged: a preview is not a
shopper's page. :func:`moved` lists each product whose position differs, and ``draft_problems``
what the draft rule could never do on the served catalog
(:func:`ranking.merchandising.problems.rule_problems`: a pin of a banned or sold-out product, a
filter that empties the page ...), said before the operator saves it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import HTTPException
from pydantic import ValidationError

from ranking.merchandising.book import EMPTY_BOOK, MerchandisingBook
from ranking.merchandising.problems import rule_problems
from serving.console_schemas import PreviewRequest
from serving.pages import serve_page
from serving.rank_requests import RankingBody, page_size_for
from serving.routes.ranking import RankingCall
from serving.schemas import HomepageRequest, SearchRequest
from serving.validation import check_homepage, check_search

DRAFT_ID = "draft"  # the id a draft without one carries on the page (rules_applied, explain)
BODIES = {"search": SearchRequest, "homepage": HomepageRequest}


def _inside_request(errors: list[dict]) -> HTTPException:
    """A 422 whose fields are located inside the preview's ``request``."""
    detail = [{"loc": ["body", "request", *[p for p in e.get("loc", ()) if p != "body"]],
               "msg": e.get("msg", ""), "type": e.get("type", "value_error")} for e in errors]
    return HTTPException(422, detail=detail)


def shopper_body(body: PreviewRequest, call: RankingCall) -> tuple[RankingBody, int]:
    """The preview's ``request`` checked as its endpoint checks it, and its page size."""
    try:
        parsed = BODIES[body.surface].model_validate(body.request)
    except ValidationError as exc:
        raise _inside_request(exc.errors(include_url=False, include_input=False)) from exc
    page_size = page_size_for(parsed, call.limits)
    try:
        if isinstance(parsed, SearchRequest):
            check_search(parsed, page_size, call.limits, call.engine)
        else:
            check_homepage(parsed, page_size, call.limits)
    except HTTPException as exc:
        raise _inside_request(exc.detail) from exc
    return parsed, page_size


def draft_book(book: MerchandisingBook, body: PreviewRequest) -> MerchandisingBook:
    """``book`` without the ``without`` ids, plus the draft rule and synonym set (a draft
    without an id is named :data:`DRAFT_ID`)."""
    out = book.without(set(body.without)) if body.without else book
    if body.draft is not None:
        out = out.with_rule(body.draft if body.draft.id else body.draft.model_copy(update={"id": DRAFT_ID}))
    if body.draft_synonym is not None:
        synonym = body.draft_synonym
        out = out.with_synonym(synonym if synonym.id else synonym.model_copy(update={"id": DRAFT_ID}))
    return out


def moved(before: list[dict], after: list[dict]) -> list[dict]:
    """Each product whose 1-based position differs between two pages' cards (None: absent),
    in the order of the draft page, then the products it no longer shows."""
    was = {c["product_id"]: (c["position"], c.get("title")) for c in before}
    now = {c["product_id"]: (c["position"], c.get("title")) for c in after}
    out = [{"product_id": pid, "title": title, "before": was.get(pid, (None,))[0], "after": pos}
           for pid, (pos, title) in sorted(now.items(), key=lambda kv: kv[1][0])
           if was.get(pid, (None,))[0] != pos]
    out += [{"product_id": pid, "title": title, "before": pos, "after": None}
            for pid, (pos, title) in sorted(was.items(), key=lambda kv: kv[1][0]) if pid not in now]
    return out


def preview(body: PreviewRequest, call: RankingCall) -> dict[str, Any]:
    """Both pages of ``body`` (module docstring) and what moved; 422 naming a bad field."""
    shopper, page_size = shopper_body(body, call)
    request, typed = call.prepare(shopper, page_size)
    request.explain, request.log_features = True, False
    book = request.merchandising or EMPTY_BOOK
    pages = []
    for b in (book, draft_book(book, body)):
        ranked = replace(request, merchandising=b, hydrated={})
        pages.append(serve_page(call.state, body.surface, ranked, call.variant_header, typed).body)
    problems = rule_problems(body.draft, call.engine, call.state.settings.merchandising) if body.draft else []
    return {"without_draft": pages[0], "with_draft": pages[1],
            "moved": moved(pages[0]["cards"], pages[1]["cards"]), "draft_problems": problems}
