"""``python -m bot``: run the Discord bot, generate from the command line, build tiny models."""

from bot.cli import main

raise SystemExit(main())
