"""Household step prompt: the ALFRED one, unchanged.

The household world speaks ALFWorld's grammar, so it reuses ALFWorld's prompt (role
sentence, history window, admissible list, think/action instruction). A policy trained
here therefore sees the same prompt format on the real ALFWorld games.
"""

from __future__ import annotations

from sdar.envs.prompting import alfred_prompt

household_prompt = alfred_prompt

__all__ = ["household_prompt"]
