"""Compiled hot paths (Cython) with pure-Python twins; selectors pick the compiled one."""
