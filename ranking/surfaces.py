"""The mall's surfaces, where a page is shown: names and integer codes, defined once.

``search`` (a query's results), ``homepage`` (the personal feed) and ``channel`` (a
curated channel's page). Logs, contracts and requests carry the name; training frames
and the feature inputs carry the code, a surface's position in :data:`SURFACES`. The
``rerank`` pipeline is not a surface: a rerank request names the surface its page is for.

The ``channel`` surface has pages of its own (:data:`CHANNEL_PAGES`): ``subsidy``, the
big-brand subsidy channel (大牌大补, ``POST /v1/channel/subsidy``), and ``category``, a leaf
or top category browsed without a query (``POST /v1/channel/category/{id}``). Each is an
engine pipeline of that name whose requests carry ``surface="channel"`` and ``channel``.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np

Surface = Literal["search", "homepage", "channel"]  # in code order
SURFACES: tuple[str, ...] = get_args(Surface)
SEARCH, HOMEPAGE, CHANNEL = SURFACES
SURFACE_CODES: dict[str, int] = {name: code for code, name in enumerate(SURFACES)}  # name -> code
SURFACE_NAMES = np.array(SURFACES)  # code -> name
ChannelPage = Literal["subsidy", "category"]
CHANNEL_PAGES: tuple[str, ...] = get_args(ChannelPage)
SUBSIDY_CHANNEL, CATEGORY_CHANNEL = CHANNEL_PAGES
