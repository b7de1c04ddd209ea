"""sdar.skills."""
