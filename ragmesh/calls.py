"""What every `ragmesh` command that talks to the gateway shares: its options, one call, one way to fail."""

from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console

console = Console()
UrlOption = Annotated[str, typer.Option(envvar="RAGMESH_URL", help="The gateway's base URL.")]
KeyOption = Annotated[str, typer.Option(envvar="RAGMESH_API_KEY", help="Your API key.")]
# For jobs that get the key as a mounted Secret: a file holding it wins over --api-key.
KeyFileOption = Annotated[
    Path | None, typer.Option(envvar="RAGMESH_API_KEY_FILE", help="Read the API key from this file (a mounted Secret).")
]


def key_of(api_key: str, api_key_file: Path | None) -> str:
    return api_key_file.read_text().strip() if api_key_file else api_key


def call(url: str, api_key: str, method: str, path: str, **kwargs) -> dict:
    """One API call; exits with the server's reason on an error."""
    try:
        with httpx.Client(base_url=url, headers={"X-API-Key": api_key}, timeout=30) as client:
            reply = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        console.print(f"[red]cannot reach {url}: {exc}[/red] (is `ragmesh up` running?)")
        raise typer.Exit(1) from exc
    fail_on_error(reply)
    return reply.json()


def fail_on_error(reply: httpx.Response) -> None:
    if reply.status_code >= 400:
        try:
            detail = reply.json().get("detail")
        except ValueError:
            detail = reply.text
        console.print(f"[red]{reply.status_code}: {detail}[/red]")
        raise typer.Exit(1)
