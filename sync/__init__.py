"""What the Compax server and its clients share: record schemas, roles, domain errors and
pure rules."""
