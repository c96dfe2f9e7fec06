"""The HTTP API: a FastAPI app served by Ray Serve (`serve_app.deployment`).

Routers per resource live in `serve_app.routes`; `serve_app.access` holds the one
access helper per resource; `serve_app.problems` maps errors to RFC 9457
problem+json responses.
"""
