"""The model organism: a small transformer trained from scratch to learn in context, shipped as a checkpoint."""
