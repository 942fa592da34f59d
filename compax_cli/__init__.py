"""The ``compax`` command line: administration, bulk import/export and offline booking."""
