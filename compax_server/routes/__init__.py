"""HTTP routes, one module per resource; ``ROUTE_TABLES`` is everything the app serves."""

from compax_server.routes import auth, campus, system, users

ROUTE_TABLES = (system.api, auth.api, users.api, campus.api)
