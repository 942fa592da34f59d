"""HTTP routes, one module per resource; ``ROUTE_TABLES`` is everything the app serves."""

from compax_server.routes import (
    auth,
    availability,
    bookings,
    campus,
    links,
    notifications,
    sync,
    system,
    users,
)

#: Order matters where paths overlap: /rooms/free must come before /rooms/{id}.
ROUTE_TABLES = (
    system.api,
    auth.api,
    users.api,
    availability.api,
    campus.api,
    bookings.api,
    sync.api,
    links.api,
    notifications.api,
)
