"""One module per ``facade-wwr`` sub-command: ``configure(parser)`` and ``run(args) -> int``."""
