"""Self-querying: metadata filters read out of the question ("papers from 2019 tagged oncology by Smith"),
checked against the tenant's declared schema, and the question with those phrases taken out.

`fields` holds the vocabulary and the one check every filter passes; `parser` the deterministic half; `llm` the
task for the generator when the question names a field the parser could not fill, and the checks its answer
passes (a field, operator or value the schema does not allow, or one the question does not show, is dropped).
"""

from services.gateway.self_query.fields import (
    FieldFilter,
    FilterError,
    SchemaField,
    SelfQuery,
    check_filter,
    schema_fields,
)
from services.gateway.self_query.llm import LLMTask, grounded, llm_task, validate_extracted
from services.gateway.self_query.parser import SelfQueryParser

__all__ = [
    "FieldFilter",
    "FilterError",
    "LLMTask",
    "SchemaField",
    "SelfQuery",
    "SelfQueryParser",
    "check_filter",
    "grounded",
    "llm_task",
    "schema_fields",
    "validate_extracted",
]
