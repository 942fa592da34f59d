"""The server's core: what each endpoint does, free of HTTP, raising ``sync.errors``."""
