"""Serves the hashed static files of app.assets."""

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from app.assets import IMMUTABLE

router = APIRouter(include_in_schema=False)


@router.get("/assets/{name}")
def asset(name: str, request: Request) -> Response:
    found = request.app.state.assets.get(name)
    if found is None:
        return PlainTextResponse("Not Found", status_code=404)
    return Response(found.body, media_type=found.media_type, headers={"Cache-Control": IMMUTABLE})
