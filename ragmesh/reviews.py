"""`ragmesh feedback` on an answer, `ragmesh reviews` (list, label): the review queue from a terminal, and
`ragmesh export`: a dataset snapshot of answers, feedback and labels."""

import hashlib
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import httpx
import typer

from ragmesh.calls import KeyFileOption, KeyOption, UrlOption, call, console, fail_on_error, key_of
from ragmesh.suite import DEV_KEY

reviews_app = typer.Typer(
    help="The review queue of your tenant (needs an admin key): list, label.", no_args_is_help=True
)


def _numbers(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise typer.BadParameter(f"expected numbers separated by commas, got {text!r}") from exc


def feedback(
    answer_id: Annotated[str, typer.Argument(help="The answer's id (`ragmesh ask` prints it).")],
    thumb: Annotated[str, typer.Option(help="up or down.")] = "",
    rating: Annotated[int | None, typer.Option(help="1 (bad) to 5 (good).")] = None,
    comment: Annotated[str, typer.Option(help="What was wrong or right.")] = "",
    relevant: Annotated[str, typer.Option(help="Citation numbers that answered the question: 1,3.")] = "",
    not_relevant: Annotated[str, typer.Option(help="Citation numbers that did not.")] = "",
    url: UrlOption = "http://127.0.0.1:8080",
    api_key: KeyOption = DEV_KEY,
) -> None:
    """Say what you thought of an answer; a thumbs-down sends it to the review queue."""
    body: dict[str, object] = {
        "comment": comment,
        "relevant": _numbers(relevant),
        "not_relevant": _numbers(not_relevant),
    }
    body |= {"thumb": thumb} if thumb else {}
    body |= {"rating": rating} if rating is not None else {}
    given = call(url, api_key, "POST", f"/v1/answers/{answer_id}/feedback", json=body)
    console.print(f"feedback {given['id']} on {given['answer_id']} recorded")


@reviews_app.command("list")
def reviews_list(
    status: Annotated[str, typer.Option(help="open, labelled or all.")] = "open",
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    url: UrlOption = "http://127.0.0.1:8080",
    api_key: KeyOption = DEV_KEY,
) -> None:
    """Answers waiting for a reviewer: low confidence, confused, or disliked."""
    queue = call(url, api_key, "GET", "/v1/admin/reviews", params={"status": status, "limit": limit})
    console.print(f"{queue['total']} {status} in the queue")
    for item in queue["items"]:
        confidence = "-" if item["confidence"] is None else f"{item['confidence']:.2f}"
        console.print(
            f"[bold]{item['answer_id']}[/bold] {item['at']} {item['route']} confidence {confidence} "
            f"[{', '.join(item['reasons'])}]"
        )
        console.print(
            f"  Q: {item['question'] if item['question'] is not None else '(kept as a hash)'}", highlight=False
        )
        console.print(f"  A: {item['answer'][:300]}", highlight=False)
        for passage in item["passages"]:
            mark = "*" if passage["cited"] else " "
            console.print(
                f"   {mark}[{passage['index']}] {passage['document_id']} #{passage['chunk_index']} "
                f"({passage['score']:.2f})"
            )
        for given in item["feedback"]:
            console.print(f"  feedback: {given['thumb'] or ''} {given['rating'] or ''} {given['comment']}".rstrip())
        if item["label"]:
            console.print(f"  label by {item['label']['reviewer']}: correct {item['label']['correct']}")


@reviews_app.command("label")
def reviews_label(
    answer_id: Annotated[str, typer.Argument(help="The answer's id (from `ragmesh reviews list`).")],
    correct: Annotated[bool | None, typer.Option("--correct/--wrong", help="Whether the answer was right.")] = None,
    relevant: Annotated[str, typer.Option(help="Citation numbers of the passages that answer it: 1,3.")] = "",
    missing: Annotated[str, typer.Option(help="Passages it missed, as DOCUMENT_ID:CHUNK, comma-separated.")] = "",
    note: Annotated[str, typer.Option(help="A note for the record.")] = "",
    url: UrlOption = "http://127.0.0.1:8080",
    api_key: KeyOption = DEV_KEY,
) -> None:
    """Label an answer: a verified example that training uses."""
    refs = []
    for part in filter(None, (p.strip() for p in missing.split(","))):
        document_id, _, chunk = part.rpartition(":")
        if not document_id or not chunk.isdigit():
            raise typer.BadParameter(f"--missing takes DOCUMENT_ID:CHUNK, got {part!r}")
        refs.append({"document_id": document_id, "chunk_index": int(chunk)})
    body = {"correct": correct, "relevant": _numbers(relevant), "missing": refs, "note": note}
    label = call(url, api_key, "POST", f"/v1/admin/reviews/{answer_id}/label", json=body)
    console.print(
        f"labelled {label['answer_id']}: {len(label['relevant'])} relevant passages, correct {label['correct']}"
    )


def export(
    to: Annotated[str, typer.Option(help="A folder, or s3://bucket/prefix, the snapshot goes to.")] = ".",
    since: Annotated[str, typer.Option(help="Start (ISO 8601 with a zone); default: today 00:00 UTC.")] = "",
    until: Annotated[str, typer.Option(help="End, exclusive (ISO 8601 with a zone); default: now.")] = "",
    last_day: Annotated[bool, typer.Option(help="The whole of yesterday (UTC): what a daily schedule stores.")] = False,
    labelled_only: Annotated[bool, typer.Option(help="Only answers a reviewer labelled.")] = False,
    s3_endpoint: Annotated[
        str, typer.Option(envvar="RAGMESH_S3_ENDPOINT", help="An S3-compatible store's URL (empty: AWS).")
    ] = "",
    url: UrlOption = "http://127.0.0.1:8080",
    api_key: KeyOption = DEV_KEY,
    api_key_file: KeyFileOption = None,
) -> None:
    """Store a dataset snapshot: the answers of a window with their feedback and labels, as JSON lines, in a file
    named by the window's end and the content's digest (the same window twice gives the same file), in a folder or
    an S3 bucket (credentials as boto3 finds them: environment, shared credentials file, instance role)."""
    if last_day:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        since, until = (today - timedelta(days=1)).isoformat(), today.isoformat()
    params: dict[str, object] = {"labelled_only": labelled_only}
    params |= {"since": since} if since else {}
    params |= {"until": until} if until else {}
    with tempfile.TemporaryDirectory(prefix="ragmesh-export-") as scratch:
        folder = Path(scratch) if to.startswith("s3://") else Path(to)
        final, count, digest = _snapshot(folder, params, url, key_of(api_key, api_key_file))
        if to.startswith("s3://"):
            import boto3  # only for snapshots sent to a bucket (the ingest extra installs it)

            bucket, _, prefix = to.removeprefix("s3://").partition("/")
            key = f"{prefix.strip('/')}/{final.name}".lstrip("/")
            boto3.client("s3", endpoint_url=s3_endpoint or None).upload_file(str(final), bucket, key)
            final = f"s3://{bucket}/{key}"
    console.print(f"{count} answers -> {final} (sha256 {digest})")


def _snapshot(to: Path, params: dict[str, object], url: str, api_key: str) -> tuple[Path, int, str]:
    """The export streamed into `to` under its final name: (the file, answers, sha256)."""
    digest, count = hashlib.sha256(), 0
    to.mkdir(parents=True, exist_ok=True)
    partial = to / ".interactions.partial"
    try:
        with (
            httpx.Client(base_url=url, headers={"X-API-Key": api_key}, timeout=300) as client,
            client.stream("GET", "/v1/admin/interactions/export", params=params) as reply,
        ):
            if reply.status_code != 200:
                reply.read()
                fail_on_error(reply)
            with partial.open("wb") as out:
                for line in reply.iter_lines():
                    data = (line + "\n").encode()
                    digest.update(data)
                    out.write(data)
                    count += 1
            end = reply.headers["X-Ragmesh-Snapshot-Until"]
    except httpx.HTTPError as exc:
        console.print(f"[red]cannot reach {url}: {exc}[/red]")
        raise typer.Exit(1) from exc
    stamp = end.replace(":", "").replace("-", "").split(".")[0].split("+")[0]
    final = to / f"interactions-{stamp}-{digest.hexdigest()[:12]}.jsonl"
    partial.replace(final)
    return final, count, digest.hexdigest()
