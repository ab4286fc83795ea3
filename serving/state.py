"""The service's state: the engine it serves, hot reload, and the event log.

The current :class:`~ranking.engine.Engine` is one reference; a reload builds and fully
verifies a new engine off the request path, then swaps the reference (atomic in Python),
so a request sees either the old bundle or the new one, never a mix, and a bad bundle
never replaces a good one. With several workers, the worker that took ``/admin/reload``
records the new bundle in a control file (``<events_dir>/.serving.json``) and every
other worker picks it up within ``serving.reload_poll_seconds``. The control file is
written before the taking worker swaps: a reload that cannot be recorded (a full disk)
swaps nothing anywhere and leaves no temporary file, so the workers never split across
two bundles. :meth:`ServiceState.not_ready` is readiness: a bundle loaded, its folder
still on disk, and the worker not draining for shutdown.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from pathlib import Path

from ranking.bundle import MANIFEST, BundleError, resolve_bundle
from ranking.engine import Engine
from ranking.event_log import BufferedAppender, EventLog
from ranking.live.backend import LiveBackend
from ranking.live.catalog_follower import CatalogFollower
from ranking.live.homepage_ahead import ShopperListsAhead
from ranking.live.merch_follower import MerchFollower
from ranking.settings import Settings
from serving import metrics
from serving.allocator import release_free_memory
from serving.routing import Router
from serving.supervisor import CONTROL_FILE, ControlMark, control_mark, write_control

log = logging.getLogger("shelfrank.serving")


def router_engines(router: Router | None) -> list[Engine]:
    """Every distinct engine of ``router`` (the default and the experiments')."""
    if router is None:
        return []
    return list({id(e): e for e in (router.default, *router.engines.values())}.values())


def build_tables(engines: list[Engine], when: str) -> None:
    """Build every engine's per-product tables now (:meth:`Engine.build_tables`: the feature tables, then
    what its pages keep per product table), before
    it takes traffic; a failure is logged (``when`` says which step) and leaves the pages to compute
    these features themselves and build the tables aside, as before."""
    for engine in engines:
        try:
            engine.build_tables()
        except Exception:
            log.exception("%s: building the per-product tables failed", when)


class ReloadNotRecordedError(Exception):
    """The control file could not be written: no worker swapped."""


class ServiceState:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.router: Router | None = None
        self.load_error: str | None = None
        self._reload_lock = threading.Lock()
        self.events_dir = Path(settings.serving.events_dir)
        self.event_log = EventLog(self.events_dir, min_free_mb=settings.serving.events_min_free_mb,
                                  on_incident=lambda kind: metrics.EVENT_LOG_INCIDENTS.labels(kind).inc())
        self.exposures = BufferedAppender(self.event_log, "exposures",
                                          every=settings.serving.exposure_flush_seconds)
        self.models_root = Path(settings.serving.bundle).parent
        self.control_path = self.events_dir / CONTROL_FILE
        self._control_seen: ControlMark | None = None
        self.live: LiveBackend | None = None  # the live state: serving/live.py starts and stops it
        self.lists_ahead: ShopperListsAhead | None = None  # shoppers' homepage lists (serving/live.py)
        self.catalog: CatalogFollower | None = None  # the live catalog: serving/catalog.py starts it
        self.merchandising: MerchFollower | None = None  # rules and synonyms: serving/merchandising.py
        self.draining = False  # set at SIGTERM: /readyz answers 503 while requests still run

    @property
    def engine(self) -> Engine | None:
        return self.router.default if self.router else None

    def _build(self, wanted: str) -> Router:
        """Engine for ``wanted`` plus the experiments' engines; BundleError with the reason."""
        try:
            # its tables are built once the live catalog is laid over (start_catalog, _prepare)
            engine = Engine.load(resolve_bundle(wanted, self.models_root), self.settings, tables=False)
            return Router.build(engine, self.settings, self.models_root, previous=self.router)
        except (BundleError, OSError, ValueError) as exc:
            raise BundleError(str(exc)) from exc

    # ---- loading -------------------------------------------------------------------------
    def _wanted_bundle(self) -> str:
        if self.control_path.exists():
            try:
                return json.loads(self.control_path.read_text())["bundle"]
            except (OSError, ValueError, KeyError):
                log.warning("ignoring unreadable %s", self.control_path)
        return self.settings.serving.bundle

    def load_initial(self) -> None:
        """Load the configured bundle; on failure keep serving nothing and say why.

        The control file's mark is taken before it is read: a reload another worker records
        while this one loads (the service is ready once one worker answers) is followed next."""
        self._control_seen = control_mark(self.control_path)
        wanted = self._wanted_bundle()
        try:
            self._swap(self._build(wanted))
            self.load_error = None
        except BundleError as exc:
            self.load_error = f"no bundle loaded from {wanted}: {exc}"
            log.error(self.load_error)

    def reload(self, bundle: str | None) -> tuple[Engine, str | None]:
        """Load, verify and swap in a bundle (inside the models directory); raise BundleError.

        A relative ``bundle`` (``latest``, a version folder's name) is read inside the models
        directory, as the API documents it, not against the server's working directory."""
        wanted = str(self.models_root / bundle) if bundle else self.settings.serving.bundle
        with self._reload_lock:
            try:
                router = self._build(wanted)
            except BundleError:
                metrics.RELOADS.labels("refused").inc()
                raise
            mark = self._prepare(router)
            try:
                self._write_control(str(router.default.bundle.path))
            except OSError as exc:
                if self.router is not None:
                    router.close_unused(self.router)
                if self.engine is not router.default:
                    router.default.close()
                metrics.RELOADS.labels("not_recorded").inc()
                raise ReloadNotRecordedError(f"could not record the reload in {self.control_path}: "
                                             f"{exc}") from exc
            previous = self._swap(router, mark)
            self.load_error = None
            metrics.RELOADS.labels("ok").inc()
            return router.default, previous

    def not_ready(self) -> str | None:
        """Why this worker should take no traffic now, or None when it is ready."""
        if self.draining:
            return "draining for shutdown"
        if self.engine is None:
            return self.load_error or "no bundle loaded"
        if not (self.engine.bundle.path / MANIFEST).is_file():
            return f"the served bundle {self.engine.bundle.path} is gone from disk"
        return None

    def _prepare(self, router: Router) -> int | None:
        """Before a reloaded router serves: lay the live catalog's changes so far over its engines
        and build their per-product feature tables for the product table they will serve (the
        warm-up built them for the bundle's), so the first pages after a reload neither compute
        those features themselves nor run beside a build of every product's row (~1.5 s of CPU
        at 1M products). Return the catalog's mark (:meth:`CatalogFollower.swapping`)."""
        engines = router_engines(router)
        mark = self.catalog.prepare(engines) if self.catalog is not None else None
        build_tables(engines, "reload, before the swap")
        return mark

    def _swap(self, router: Router, mark: int | None = None) -> str | None:
        catalog = self.catalog
        swapping = catalog.swapping(router_engines(router), mark) if catalog is not None \
            else contextlib.nullcontext()
        with swapping:
            old = self.router
            self.router = router
        previous = old.default.version if old else None
        metrics.set_bundle(router.default.version, previous if previous != router.default.version else None)
        if old is not None:
            old.close_unused(router)
            if old.default is not router.default and old.default not in router.engines.values():
                old.default.close()
            del old
            release_free_memory()  # the old bundle's pages back to the system (serving/allocator.py)
        return previous

    # ---- multi-worker propagation ------------------------------------------------------
    def _write_control(self, path: str) -> None:
        # this write's own mark: another worker's write right after it is still followed
        self._control_seen = write_control(self.events_dir, path)

    def _serves(self, bundle: str) -> bool:
        return self.engine is not None and Path(bundle).resolve() == Path(self.engine.bundle.path).resolve()

    def follow_control(self) -> bool:
        """Reload if another worker moved the control file; True when this worker swapped."""
        mark = control_mark(self.control_path)
        if mark is None or mark == self._control_seen:
            return False
        self._control_seen = mark
        wanted = self._wanted_bundle()
        if self._serves(wanted):
            return False
        with self._reload_lock:
            if self._serves(wanted):  # this worker's own reload, which held the lock, swapped to it
                return False
            try:
                router = self._build(wanted)
                self._swap(router, self._prepare(router))
                self.load_error = None
                return True
            except BundleError as exc:
                log.error("control file asks for %s, refused: %s", wanted, exc)
                return False
