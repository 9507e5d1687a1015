"""Datasets: the record types, JSONL I/O and validation, the nonsense lexicon, and one module per generator."""
