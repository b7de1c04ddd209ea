"""sdar.models."""
