"""sdar.skills: skill banks, retrieval and the teacher's privileged text (text only)."""
