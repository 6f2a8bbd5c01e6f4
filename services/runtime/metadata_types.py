"""The metadata schema's field types and filter operators: protobuf enum <-> name, in one table that the
gateway and the ingest service both read (the contract lives in proto/ragmesh/ingest/v1)."""

from ragmesh.ingest.v1 import ingest_pb2

FIELD_TYPES: dict[int, str] = {
    ingest_pb2.FIELD_TYPE_KEYWORD: "keyword",
    ingest_pb2.FIELD_TYPE_KEYWORDS: "keywords",
    ingest_pb2.FIELD_TYPE_INTEGER: "integer",
    ingest_pb2.FIELD_TYPE_NUMBER: "number",
    ingest_pb2.FIELD_TYPE_YEAR: "year",
}
FIELD_TYPE_CODES: dict[str, int] = {name: code for code, name in FIELD_TYPES.items()}
OPERATORS: dict[int, str] = {
    ingest_pb2.OPERATOR_ANY_OF: "any_of",
    ingest_pb2.OPERATOR_NONE_OF: "none_of",
    ingest_pb2.OPERATOR_GTE: "gte",
    ingest_pb2.OPERATOR_LTE: "lte",
}
OPERATOR_CODES: dict[str, int] = {name: code for code, name in OPERATORS.items()}
