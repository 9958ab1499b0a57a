"""Every error leaves the REST API as ``application/problem+json`` (RFC 9457)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.exceptions import PROBLEM_BASE, VerbatimError

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

_HTTP_SLUGS = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    429: "too-many-requests",
}


def problem(
    status: int, slug: str, title: str, detail: str, instance: str, **extra: Any
) -> JSONResponse:
    body = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        **extra,
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _verbatim_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, VerbatimError)
    return problem(exc.status, exc.slug, exc.title, exc.detail, request.url.path, **exc.extra)


def _field(location: tuple[Any, ...]) -> str:
    parts = [str(part) for part in location]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:] or parts
    return ".".join(parts)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(error.get("type") == "json_invalid" for error in errors):
        return problem(400, "malformed-json", "Malformed JSON", "The request body is not valid "
                       "JSON", request.url.path)
    fields = [
        {"field": _field(tuple(error.get("loc", ()))), "message": error.get("msg", "invalid"),
         "location": str(error.get("loc", ("",))[0])}
        for error in errors
    ]
    detail = "; ".join(f"{item['field']}: {item['message']}" for item in fields)
    return problem(422, "validation-error", "Invalid request", detail, request.url.path,
                   errors=fields)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    slug = _HTTP_SLUGS.get(exc.status_code, "http-error")
    title = slug.replace("-", " ").capitalize()
    detail = exc.detail if isinstance(exc.detail, str) else title
    return problem(exc.status_code, slug, title, detail, request.url.path)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "internal-error", "Internal server error",
                   "Something went wrong; it has been logged", request.url.path)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(VerbatimError, _verbatim_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
