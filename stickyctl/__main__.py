from stickyctl.cli.app import run

run()
