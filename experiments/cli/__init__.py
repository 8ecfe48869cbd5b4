"""The command line of ``python -m experiments``: one module per subcommand, each with ``add_parser`` and ``run``;
:mod:`experiments.cli.common` holds the exit codes and the error guard."""
