"""Benchmarks, one module per question, run with ``sdar bench NAME [args]``.

Like ``cli.py`` these are front-ends: each module's ``main()`` parses its own arguments
and prints a table, and may import every layer. Nothing in the library imports them.
They live in the package so that ``sdar bench`` works after a non-editable install.
"""
