"""The application factory."""

import logging
import threading
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI
from sqlalchemy.orm import sessionmaker
from starlette.middleware.trustedhost import TrustedHostMiddleware

from app.assets import build_assets
from app.campaign import load_campaign
from app.compression import Compression
from app.errors import forget_broken_connections, install_error_handlers
from app.logs import RequestLog, logging_config
from app.metrics import PackMetrics
from app.ratelimit import RateLimit, RateLimiter, storage_url
from app.render import LetterRenderer, RenderInProcess, RenderPool, collect_for_packs
from app.routes import (
    api,
    assets,
    dashboard,
    embed,
    health,
    kiosk,
    second_factor,
    staff_admin,
    steering,
    supporter,
)
from app.security import BodyLimit, CrossSiteRefusal, PublicAddress, SecurityHeaders
from app.settings import Settings
from app.storage.db import READ_ONLY, check_schema, make_engine

LOGGER = logging.getLogger("letter_campaign.main")


def create_app(
    settings: Settings | None = None, *, renderer: LetterRenderer | None = None
) -> FastAPI:
    """Build the service; nothing is read or connected until this runs. `renderer`: one built
    for these settings' campaign, fonts and speed-ups, where one process builds many apps (the
    tests): a renderer lays out the letters' fixed parts anew at its first pack."""
    settings = settings or Settings()
    logging.getLogger("letter_campaign").setLevel(settings.log_level.upper())
    campaign = load_campaign(settings.campaign_dir)
    engine = make_engine(settings.database_url)
    forget_broken_connections(engine)
    check_schema(engine)
    warmed = threading.Event()
    if not settings.warm_up:
        warmed.set()

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        # Pages, checks and the database run in worker threads, all sharing the GIL with the
        # event loop: the more threads at once, the longer the loop waits its turn (with 40, the
        # default, /healthz waited seconds in a burst). Figures in benchmarks/README.md.
        to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        packs = app.state.packs
        if isinstance(packs, RenderPool):
            packs.start(warmed)
        elif not warmed.is_set():
            threading.Thread(
                target=warm_up, args=(packs.renderer, warmed), name="warm-up", daemon=True
            ).start()
        yield
        if isinstance(packs, RenderPool):
            packs.close()
        engine.dispose()

    # /docs is served by app/routes/api.py from the npm package swagger-ui-dist: FastAPI's own
    # page loads Swagger UI from a CDN with an inline script, which the CSP refuses.
    app = FastAPI(title="letter-campaign", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.campaign = campaign
    app.state.engine = engine
    app.state.sessionmaker = sessionmaker(engine, expire_on_commit=False)
    app.state.reader = sessionmaker(engine.execution_options(**READ_ONLY), expire_on_commit=False)
    app.state.renderer = renderer = renderer or LetterRenderer(
        campaign, settings.fonts_dir, off=settings.speedups_off_list
    )
    LOGGER.info(
        "speed-ups: %s",
        ", ".join(f"{name} {'on' if on else 'off'}" for name, on in renderer.speedups.items()),
    )
    app.state.metrics = PackMetrics(renderer.speedups)
    # What makes packs: render processes of their own, or this process (RENDER_PROCESSES=0).
    app.state.packs = (
        RenderPool(settings, logging_config(settings.log_level))
        if settings.render_process_count
        else RenderInProcess(app.state.renderer, settings)
    )
    app.state.warmed = warmed
    app.state.assets = build_assets(settings, campaign)

    app.add_middleware(Compression)  # text answers, not those marked no-store (BREACH)
    app.add_middleware(RequestLog)
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_body_bytes, timeout_s=settings.body_timeout_s
    )
    limits = {
        "letters": settings.rate_limit_letters,
        "login": settings.rate_limit_login,
        "forms": settings.rate_limit_forms,
        "event": settings.rate_limit_event,
    }
    limiter = RateLimiter(limits, storage_url(settings.redis_url), settings.secret_key)
    app.add_middleware(RateLimit, limiter=limiter)
    app.add_middleware(CrossSiteRefusal)  # before the limits: another site spends no allowance
    if settings.public_url:
        app.add_middleware(PublicAddress, public_url=settings.public_url)
    app.add_middleware(
        SecurityHeaders,
        hsts=settings.public_url.startswith("https://"),
        embed_origins=settings.embed_origins,
    )
    if settings.host_list != ["*"]:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.host_list)

    generate_openapi = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = api.document_supporter(generate_openapi())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    install_error_handlers(app)
    app.add_exception_handler(dashboard.CsrfRefused, dashboard.refused)
    app.add_exception_handler(dashboard.RoleRefused, dashboard.role_refused)
    app.include_router(health.router)
    app.include_router(assets.router)
    app.include_router(api.router)
    app.include_router(dashboard.router)
    app.include_router(second_factor.router)
    app.include_router(steering.router)
    app.include_router(staff_admin.router)
    app.include_router(embed.router)
    app.include_router(kiosk.router)
    app.include_router(supporter.router)
    return app


def warm_up(renderer: LetterRenderer, done: threading.Event) -> None:
    """Lays out the letters' fixed parts in the background after start-up; /readyz says ready
    once they are there, or the warm-up failed (logged)."""
    try:
        renderer.warm_up_logged()
    finally:
        done.set()


def create_served_app(settings: Settings | None = None) -> FastAPI:
    """The app as `letter-campaign serve` runs it in each worker process, its garbage collection
    tuned for packs (app.render.collect_for_packs). Tests build apps with create_app and keep the
    interpreter's defaults."""
    app = create_app(settings)
    collect_for_packs()
    return app
