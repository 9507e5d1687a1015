"""Serving adaptlab's models over HTTP: `openai_server`, a small OpenAI-compatible reference server that the served
backend (`adaptlab.models.served`) is tested and benchmarked against."""
