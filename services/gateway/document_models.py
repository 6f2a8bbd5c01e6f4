"""The document, metadata and job bodies of the public API (the query bodies are in models.py)."""

from typing import Literal

from pydantic import BaseModel, Field

from services.gateway.models import Body

JobState = Literal["queued", "extracting", "embedding", "indexed", "unchanged", "duplicate", "quarantined", "failed"]


class DocumentMetadata(BaseModel):
    title: str = ""
    source: str = ""
    tags: list[str] = Field(default_factory=list)
    licence: str = ""
    attributes: dict[str, object] = Field(
        default_factory=dict, description="Values of the tenant's declared metadata fields."
    )
    allowed_users: list[str] = Field(default_factory=list, description="Users who may see the document.")
    allowed_groups: list[str] = Field(
        default_factory=list, description="Groups whose members may see it; both lists empty: the whole tenant."
    )
    allowed_uses: list[str] = Field(
        default_factory=list, description="What its licence allows it to be used for (e.g. rag, search, training)."
    )


class DocumentAccess(Body):
    """Who may see a document inside the tenant: these users and the members of these groups."""

    allowed_users: list[str] = Field(default_factory=list, max_length=100)
    allowed_groups: list[str] = Field(default_factory=list, max_length=100)


class MetadataField(Body):
    """One attribute documents may carry and questions may filter on."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$", description="Identifier, lower case.")
    type: Literal["keyword", "keywords", "integer", "number", "year"] = Field(
        description="keyword: one string; keywords: a list of strings; integer, number; year: a calendar year."
    )
    description: str = Field(default="", max_length=500, description="What the field means.")
    operators: list[Literal["any_of", "none_of", "gte", "lte"]] = Field(
        default_factory=list, description="Allowed filter operators; empty means all the type supports."
    )
    aliases: list[str] = Field(
        default_factory=list, description="Words that name the field in questions, e.g. 'by' for authors."
    )
    values: list[str] = Field(
        default_factory=list,
        description="Known values. In responses, also every value documents carry (keyword fields).",
    )


class MetadataSchema(Body):
    """The tenant's declared metadata: what documents may carry, what questions may filter on."""

    fields: list[MetadataField] = Field(default_factory=list, max_length=32)
    updated_at: str = ""


class Document(BaseModel):
    document_id: str
    filename: str
    content_type: str
    metadata: DocumentMetadata
    chunk_count: int
    size_bytes: int
    content_hash: str
    created_at: str
    updated_at: str


class TextSection(BaseModel):
    heading_path: list[str]
    char_start: int
    char_end: int


class DocumentText(BaseModel):
    """A document's extracted text: what citation and quote offsets (`char_start`, `char_end`) point into."""

    document_id: str
    text: str = Field(description="The requested slice of the extracted text (all of it by default).")
    char_start: int
    char_end: int
    total_chars: int = Field(description="Length of the whole extracted text, in Unicode code points.")
    content_hash: str = Field(description="sha256 of the whole extracted text, as on the document's record.")
    sections: list[TextSection] = Field(description="The document's sections, with offsets in the whole text.")


class DocumentList(BaseModel):
    documents: list[Document]
    total: int


class IngestResponse(BaseModel):
    document_id: str
    chunk_count: int
    status: Literal["created", "updated", "unchanged", "duplicate", "held"] = Field(
        description="duplicate: the same or nearly the same text is indexed already, for the same readers, as "
        "`duplicate_of`; recorded in the audit log, not indexed twice. held: it reads like a prompt injection; kept "
        "out of answers in quarantine until an administrator releases it (`reason` says why)."
    )
    duplicate_of: str | None = None
    similarity: float | None = Field(
        default=None, description="With duplicate: estimated Jaccard similarity (1: same)."
    )
    reason: str | None = Field(default=None, description="With held: why.")


class DeleteResponse(BaseModel):
    document_id: str
    chunks_deleted: int


class JobItem(BaseModel):
    position: int
    name: str = Field(description="The upload's file name.")
    state: JobState = Field(
        description="queued, extracting, embedding: in progress; indexed, unchanged, duplicate, quarantined, failed: "
        "finished."
    )
    reason: str = Field(
        description="Why it did not go in (quarantined, failed), or what it waits for (queued after a failure)."
    )
    document_id: str
    chunk_count: int
    duplicate_of: str = ""
    similarity: float = 0.0
    attempts: int
    updated_at: str


class Job(BaseModel):
    job_id: str
    status_url: str = Field(description="Where to follow the job: GET it until `done`.")
    created_at: str
    submitted_by: str
    total: int
    finished: int = Field(description="Documents in a finished state.")
    done: bool
    counts: dict[str, int] = Field(description="How many documents are in each state.")
    items: list[JobItem]
