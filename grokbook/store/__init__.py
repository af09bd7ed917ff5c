"""Sweeps kept on disk: what a sweep is (definitions), the named sweeps and their entry points
(sweeps), their files and chunks (files), provenance, the engine digest (digest), where chunks
train (executors), the views read back (views), capacity and transformer_diagram.
Imports analysis, engine and core."""
