"""sdar: Self-Distilled Agentic Reinforcement Learning.

Importing the package does nothing beyond defining the version: no logging set-up, no
torch import, no registry filling.
"""

__version__ = "0.1.0"
