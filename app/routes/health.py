"""Liveness and readiness probes for the load balancer and the container's HEALTHCHECK."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from app.db import SchemaBehind, check_schema

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process answers; says nothing about the database, so a database outage does not get
    every instance restarted. On the event loop: it answers when every worker thread is busy."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """Ready to serve: the letters' fixed parts are laid out (app.main.warm_up), the database
    answers and its schema is the one this code needs."""
    if not request.app.state.warmed.is_set():
        return JSONResponse({"status": "warming up: laying out the letters"}, 503)
    try:
        check_schema(request.app.state.engine)
    except SchemaBehind:
        return JSONResponse({"status": "schema behind: run letter-campaign migrate"}, 503)
    except SQLAlchemyError:
        return JSONResponse({"status": "database unreachable"}, 503)
    return JSONResponse({"status": "ready"})
