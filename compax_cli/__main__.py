"""``python -m compax_cli`` runs the ``compax`` command."""

from compax_cli.main import run

run()
