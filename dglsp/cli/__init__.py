"""The `dglsp` command line (entry point: `dglsp.cli.main:main`)."""
