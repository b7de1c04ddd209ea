"""sdar.envs.household: a procedural ALFWorld-style household world (pure Python).

The family's `EnvSpec` is `sdar.envs.household.spec.SPEC`; this package imports nothing
on its own (``import sdar.envs.household`` stays free of side effects).
"""
