"""sdar.envs.household."""
