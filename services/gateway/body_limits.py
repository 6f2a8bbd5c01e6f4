"""Request bodies bounded as they arrive: an ASGI middleware that answers 413 as soon as a body passes its limit,
declared (Content-Length) or not (chunked), before the application reads it whole, parses it or spools it to
disk. Written by hand because Starlette and uvicorn bound only headers, not bodies."""

import json
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    """Wraps the app; `limit_for(method, path)` gives each route's limit in bytes."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str, str], int]) -> None:
        self.app = app
        self._limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope["method"], scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(send, f"the request body is {int(declared)} bytes; the limit here is {limit}")
            return
        received, refused = 0, False

        async def limited_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    await _too_large(send, f"the request body passed the limit of {limit} bytes here")
                    # The app sees the client gone and stops reading.
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:  # once the 413 went out, whatever the app answers is dropped
                await send(message)

        await self.app(scope, limited_receive, guarded_send)


async def _too_large(send: Send, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": [*headers, (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
