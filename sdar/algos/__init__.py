"""sdar.algos."""
