from stickyctl.cli.app import main

main()
