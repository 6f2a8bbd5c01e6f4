"""One router per resource."""

from services.gateway.models import Problem


def problems(*statuses: int) -> dict[int | str, dict]:
    """OpenAPI `responses` for error statuses: each answers a Problem body."""
    return {status: {"model": Problem} for status in statuses}
