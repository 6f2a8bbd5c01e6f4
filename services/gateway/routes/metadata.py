"""/v1/metadata-schema: declare the attributes the tenant's documents carry and questions may filter on."""

from fastapi import APIRouter

from ragmesh.ingest.v1 import ingest_pb2
from services.gateway.audit import actor
from services.gateway.deps import ClientsDep, IngestCaller, QueryCaller
from services.gateway.document_models import MetadataField, MetadataSchema
from services.gateway.routes import problems
from services.runtime.metadata_types import FIELD_TYPE_CODES, FIELD_TYPES, OPERATOR_CODES, OPERATORS

# Every operation may answer 400 (unreadable body), 401 (credentials), 403 (scope, tenant) and 422 (input).
router = APIRouter(prefix="/v1/metadata-schema", tags=["metadata"], responses=problems(400, 401, 403, 422))


def _schema(reply: ingest_pb2.MetadataSchema) -> MetadataSchema:
    return MetadataSchema(
        fields=[
            MetadataField(
                name=f.name,
                type=FIELD_TYPES[f.type],
                description=f.description,
                operators=[OPERATORS[op] for op in f.operators],
                aliases=list(f.aliases),
                values=list(f.values),
            )
            for f in reply.fields
        ],
        updated_at=reply.updated_at,
    )


@router.put(
    "",
    response_model=MetadataSchema,
    responses=problems(401, 403, 422),
)
async def put_schema(body: MetadataSchema, caller: IngestCaller, clients: ClientsDep) -> MetadataSchema:
    """Replace the schema. A field that documents still carry cannot be dropped or change type (422)."""
    reply = await clients.ingest.PutMetadataSchema(
        ingest_pb2.PutMetadataSchemaRequest(
            tenant=caller.tenant,
            fields=[
                ingest_pb2.MetadataField(
                    name=f.name,
                    type=FIELD_TYPE_CODES[f.type],
                    description=f.description,
                    operators=[OPERATOR_CODES[op] for op in f.operators],
                    aliases=f.aliases,
                    values=f.values,
                )
                for f in body.fields
            ],
            actor=actor(caller),
        ),
        timeout=10,
    )
    return _schema(reply)


@router.get("", response_model=MetadataSchema, responses=problems(401))
async def get_schema(caller: QueryCaller, clients: ClientsDep) -> MetadataSchema:
    """The declared fields; keyword fields list every value documents carry besides the declared ones."""
    reply = await clients.ingest.GetMetadataSchema(
        ingest_pb2.GetMetadataSchemaRequest(tenant=caller.tenant), timeout=10
    )
    return _schema(reply)
