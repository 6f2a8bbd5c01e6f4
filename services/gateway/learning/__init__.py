"""The learning loop's records (DESIGN.md, "The learning loop"): every answer logged with what produced it
(`interactions`), feedback on it from the asker (`feedback`), and the review queue where reviewers label what was
right (`reviews`): the verified labels that training uses."""
