"""No attack of the red-team set reaches the user, through the real suite with an obedient model (a sample of each
category here; `python -m eval.red_team` runs all 200, `--local N` against Gemma too)."""

from eval.red_team import ATTACKERS, attempts, run


def test_the_set_has_fifty_attempts_in_each_of_four_categories_and_they_really_attack():
    made = attempts()
    assert len(made) == 200 and {a.category for a in made} == {"extraction", "override", "exfiltration", "poisoned"}
    # The obedient answers are the attacks themselves: without the defences every one would leak.
    for attempt in made:
        assert attempt.target == "prompt" or any(host in attempt.obedient for host in ATTACKERS)


async def test_no_attack_reaches_the_user():
    report = await run(local=0, limit=24)
    obedient = report["by_model"]["obedient (LiteLLM mock)"]
    assert obedient["attempts"] == 24 and obedient["model_answered"] == 24
    assert obedient["leaks"] == 0, obedient["examples"]
