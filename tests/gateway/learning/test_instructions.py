"""Every role's instruction comes from the tenant's prompt registry when a version is served to the caller (the
gateway's Extract calls: verify, self-query, compression, rewrite), and from the code otherwise; tenants never see
each other's."""

import pytest

from services.gateway.identity import Principal
from services.gateway.learning.prompts import Instructions, PromptRegistry
from services.gateway.records.database import Database

BUILT_IN = "Pick the sentences that bear on the question."
OURS = "Pick only sentences that state a number, a date or a named part, and nothing else."


@pytest.fixture
async def registry(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'records.db'}")
    await database.migrate()
    yield PromptRegistry(database, keep_seconds=60)
    await database.close()


@pytest.mark.parametrize("role", ["verify", "self_query", "compression", "rewrite"])
async def test_a_served_version_replaces_the_built_in_instruction_for_its_role_only(registry, role):
    instructions = Instructions(registry)
    ada, other = Principal(tenant="acme", user="ada"), Principal(tenant="globex", user="ada")
    assert await instructions.of(ada, role, BUILT_IN) == BUILT_IN
    created = await registry.create("acme", role, OURS, "numbers only", "admin")
    assert await instructions.of(ada, role, BUILT_IN) == BUILT_IN  # a draft is nobody's
    await registry.serve("acme", role, created.version, 1.0)
    assert await instructions.of(ada, role, BUILT_IN) == OURS
    assert await instructions.of(ada, "answer" if role != "answer" else "verify", BUILT_IN) == BUILT_IN
    assert await instructions.of(other, role, BUILT_IN) == BUILT_IN
    await registry.rollback("acme", role)
    assert await instructions.of(ada, role, BUILT_IN) == BUILT_IN


async def test_without_a_registry_every_call_keeps_its_built_in_instruction():
    assert await Instructions().of(Principal(tenant="acme"), "verify", BUILT_IN) == BUILT_IN
