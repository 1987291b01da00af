"""``python -m dimred``: the same commands as the ``dimred`` script."""

from dimred.cli import main

if __name__ == "__main__":
    main()
