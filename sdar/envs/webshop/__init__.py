"""sdar.envs.webshop: WebShop (Yao et al. 2022) as a pure-Python shop over a catalogue folder.

The family's `EnvSpec` is `sdar.envs.webshop.spec.SPEC`; this package imports nothing on
its own (``import sdar.envs.webshop`` stays free of side effects).
"""
