"""Search-QA: answer questions by searching a passage corpus (the Search-R1 setting)."""
