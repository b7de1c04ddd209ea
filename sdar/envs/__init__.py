"""sdar.envs."""
