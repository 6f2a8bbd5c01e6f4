"""`ragmesh feedback` on an answer, and `ragmesh reviews` (list, label): the review queue from a terminal."""

from typing import Annotated

import typer

from ragmesh.calls import KeyOption, UrlOption, call, console
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
