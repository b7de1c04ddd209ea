"""sdar.envs.alfworld."""
