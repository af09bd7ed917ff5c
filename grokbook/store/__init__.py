"""Sweeps kept on disk: the named sweeps and their files, provenance and engine digest, resume,
executors, and the views read back (sweeps, digest, executors, capacity, transformer_diagram).
Imports analysis, engine and core."""
