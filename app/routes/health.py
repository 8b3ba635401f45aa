"""Liveness and readiness probes for the load balancer and the container's HEALTHCHECK, and the
operator's counts (/metrics)."""

import hmac

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from app.metrics import CONTENT_TYPE
from app.storage.db import SchemaBehind, check_schema

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process answers; says nothing about the database, so a database outage does not get
    every instance restarted. On the event loop: it answers when every worker thread is busy."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """Ready to serve: the letters' fixed parts are laid out (by every render process, or by
    app.main.warm_up where the web process renders), the database answers and its schema is the
    one this code needs. "degraded" (still 200: packs are made) while a speed-up is off."""
    if not request.app.state.warmed.is_set():
        return JSONResponse({"status": "warming up: laying out the letters"}, 503)
    try:
        check_schema(request.app.state.engine)
    except SchemaBehind:
        return JSONResponse({"status": "schema behind: run letter-campaign migrate"}, 503)
    except SQLAlchemyError:
        return JSONResponse({"status": "database unreachable"}, 503)
    off = [name for name, on in request.app.state.renderer.speedups.items() if not on]
    if off:
        # Packs are still made, in full, at several times the CPU: ready, but worth a look.
        return JSONResponse({"status": "degraded", "speedups_off": off})
    return JSONResponse({"status": "ready"})


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """The counts of packs in Prometheus's text format, for a scraper that brings METRICS_TOKEN
    as a bearer token; without METRICS_TOKEN set, there is no such page."""
    token = request.app.state.settings.metrics_token
    if not token:
        return Response(status_code=404)
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
        return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})
    body = request.app.state.metrics.exposition()
    return Response(body, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})
