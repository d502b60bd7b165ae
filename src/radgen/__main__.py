"""`python -m radgen` is the same as the `radgen` console script."""

from radgen.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
