"""`python -m digitlab`: the same command line as `digitlab`."""

from digitlab.cli import main

main()
