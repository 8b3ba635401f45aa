"""Serves the hashed static files of app.assets, text files compressed where the client accepts
it (app/compression.py)."""

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

from app.assets import IMMUTABLE
from app.compression import accepted_encoding

router = APIRouter(include_in_schema=False)


@router.get("/assets/{name}")
def asset(name: str, request: Request) -> Response:
    assets = request.app.state.assets
    found = assets.get(name)
    if found is None:
        return PlainTextResponse("Not Found", status_code=404)
    headers = {"Cache-Control": IMMUTABLE}
    body = found.body
    if found.compressible:
        headers["Vary"] = "Accept-Encoding"
        encoding = accepted_encoding(request.headers.get("accept-encoding", ""))
        if encoding:
            body = assets.compressed(name, encoding)
            headers["Content-Encoding"] = encoding
    return Response(body, media_type=found.media_type, headers=headers)
