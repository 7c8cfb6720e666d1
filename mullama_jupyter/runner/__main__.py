"""Entry point of a runner child process: ``python -m mullama_jupyter.runner``."""

from .child import main

if __name__ == "__main__":
    raise SystemExit(main())
