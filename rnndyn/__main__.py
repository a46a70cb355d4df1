"""``python -m rnndyn`` runs the command line."""

from rnndyn_cli.app import main

main()
