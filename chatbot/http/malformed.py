"""Requests aiohttp cannot parse (a request line or header over 8 KB...) answered with JSON.

aiohttp answers them in its protocol, before any middleware, with a text/plain 400 and an
ERROR traceback. The contract wants its JSON error on API paths, and a client's bad request
is no server fault: here it gets the JSON error and the log one INFO line. aiohttp has no
parameter for its protocol class, so `JsonErrorAppRunner` puts the subclass in place.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from chatbot.http.addresses import ANONYMIZE_ADDRESSES, loggable_address
from chatbot.http.responses import json_response

log = logging.getLogger(__name__)
_LOGGED_REASON_CHARS = 200


def malformed_request_error(exc: HttpProcessingError) -> dict[str, dict[str, str]]:
    """The contract's error body for a request that cannot be parsed."""
    if isinstance(exc, LineTooLong):
        return {
            "error": {
                "code": "request_head_too_large",
                "message": "the request line or a header is longer than 8 KB: send long data "
                "in the request body, not in the URL or a header",
            }
        }
    return {
        "error": {
            "code": "invalid_request",
            "message": "the request is not valid HTTP/1.1: check the client or proxy sending it",
        }
    }


class JsonErrorRequestHandler(RequestHandler):
    """aiohttp's connection protocol, answering unparsable requests with the JSON error."""

    __slots__ = ()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError) or request.writer.output_size > 0:
            return super().handle_error(request, status, exc, message)
        reason = " ".join(str(exc.message).split())[:_LOGGED_REASON_CHARS]
        anonymize = getattr(self._manager, "anonymize_addresses", False)
        address = loggable_address(request.remote, anonymize)
        log.info("refused a request from %s that is not valid HTTP: %s", address, reason)
        response = json_response(malformed_request_error(exc), status=status)
        response.force_close()
        return response


class _JsonErrorServer(web.Server):
    anonymize_addresses = False

    def __call__(self) -> RequestHandler:
        return JsonErrorRequestHandler(self, loop=self._loop, **self._kwargs)


class JsonErrorAppRunner(web.AppRunner):
    """aiohttp's AppRunner, its connections made by `JsonErrorRequestHandler`."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _JsonErrorServer  # the same object, its protocol factory replaced
        server.anonymize_addresses = self.app.get(ANONYMIZE_ADDRESSES, False)  # type: ignore[attr-defined]
        return server
