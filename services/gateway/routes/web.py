"""The page for askers and operators (services/gateway/web: HTML, CSS and plain JavaScript, no build step), served at
/ui/ with a strict content security policy; / leads there. It calls the public API with the key the user gives it."""

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse
from starlette.staticfiles import StaticFiles

PAGE = Path(__file__).resolve().parent.parent / "web"
# Scripts, styles and requests from the gateway alone: no inline script, nothing from elsewhere.
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
router = APIRouter(include_in_schema=False)


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/ui/")


class _Page(StaticFiles):
    def file_response(self, *args, **kwargs):
        response = super().file_response(*args, **kwargs)
        response.headers.update(HEADERS)
        return response


def serve_page(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/ui", _Page(directory=PAGE, html=True), name="ui")
