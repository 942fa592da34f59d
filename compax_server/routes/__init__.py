"""HTTP routes, one module per resource; ``ROUTE_TABLES`` is everything the app serves."""

from compax_server.routes import (
    approvals,
    audit,
    auth,
    availability,
    bookings,
    campus,
    checkin,
    issues,
    links,
    managers,
    notifications,
    quotas,
    ratings,
    sso,
    sync,
    system,
    users,
    waitlist,
)

#: Order matters where paths overlap: /rooms/free must come before /rooms/{id}.
ROUTE_TABLES = (
    system.api,
    auth.api,
    sso.api,
    users.api,
    availability.api,
    campus.api,
    managers.api,
    bookings.api,
    checkin.api,
    sync.api,
    links.api,
    waitlist.api,
    notifications.api,
    quotas.api,
    ratings.api,
    approvals.api,
    issues.api,
    audit.api,
)
