"""The web shell: the Starlette app, its routes and pages, and the WebSocket fan-out.

``app`` wires the routes and the lifespan; ``api`` the HTTP API; ``feed`` the WebSocket
endpoint; ``hub`` writes what the pure channel (``server.core.channel``) decides; ``fastpath``
is the one module that knows uvicorn's internals; ``pages``, ``overlays`` and ``console`` render
templates; ``assets`` finds the templates and static files, installed or from a checkout.
"""
