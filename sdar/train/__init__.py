"""sdar.train."""
