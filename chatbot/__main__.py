"""`python -m chatbot` is the `chatbot` console script."""

from chatbot.cli import main

raise SystemExit(main())
