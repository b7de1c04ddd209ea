"""sdar.rollout."""
