"""/v1/metadata-schema: declare the attributes the tenant's documents carry and questions may filter on."""

from fastapi import APIRouter

from ragmesh.ingest.v1 import ingest_pb2
from services.gateway.deps import ClientsDep, TenantDep
from services.gateway.models import MetadataField, MetadataSchema, Problem
from services.gateway.routes.documents import bump_corpus

router = APIRouter(prefix="/v1/metadata-schema", tags=["metadata"])
_TYPES = {
    "keyword": ingest_pb2.FIELD_TYPE_KEYWORD,
    "keywords": ingest_pb2.FIELD_TYPE_KEYWORDS,
    "integer": ingest_pb2.FIELD_TYPE_INTEGER,
    "number": ingest_pb2.FIELD_TYPE_NUMBER,
    "year": ingest_pb2.FIELD_TYPE_YEAR,
}
_OPERATORS = {
    "any_of": ingest_pb2.OPERATOR_ANY_OF,
    "none_of": ingest_pb2.OPERATOR_NONE_OF,
    "gte": ingest_pb2.OPERATOR_GTE,
    "lte": ingest_pb2.OPERATOR_LTE,
}
_TYPE_NAMES = {code: name for name, code in _TYPES.items()}
_OPERATOR_NAMES = {code: name for name, code in _OPERATORS.items()}


def _schema(reply: ingest_pb2.MetadataSchema) -> MetadataSchema:
    return MetadataSchema(
        fields=[
            MetadataField(
                name=f.name,
                type=_TYPE_NAMES[f.type],
                description=f.description,
                operators=[_OPERATOR_NAMES[op] for op in f.operators],
                aliases=list(f.aliases),
                values=list(f.values),
            )
            for f in reply.fields
        ],
        updated_at=reply.updated_at,
    )


@router.put("", response_model=MetadataSchema, responses={401: {"model": Problem}, 422: {"model": Problem}})
async def put_schema(body: MetadataSchema, tenant: TenantDep, clients: ClientsDep) -> MetadataSchema:
    """Replace the schema. A field that documents still carry cannot be dropped or change type (422)."""
    reply = await clients.ingest.PutMetadataSchema(
        ingest_pb2.PutMetadataSchemaRequest(
            tenant=tenant,
            fields=[
                ingest_pb2.MetadataField(
                    name=f.name,
                    type=_TYPES[f.type],
                    description=f.description,
                    operators=[_OPERATORS[op] for op in f.operators],
                    aliases=f.aliases,
                    values=f.values,
                )
                for f in body.fields
            ],
        ),
        timeout=10,
    )
    # Self-query reads the schema: cached answers filtered under the old one must not be served.
    await bump_corpus(clients, tenant)
    return _schema(reply)


@router.get("", response_model=MetadataSchema, responses={401: {"model": Problem}})
async def get_schema(tenant: TenantDep, clients: ClientsDep) -> MetadataSchema:
    """The declared fields; keyword fields list every value documents carry besides the declared ones."""
    reply = await clients.ingest.GetMetadataSchema(ingest_pb2.GetMetadataSchemaRequest(tenant=tenant), timeout=10)
    return _schema(reply)
