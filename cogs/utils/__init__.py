"""What the cogs share and discord.py does not load as an extension: words and embeds, buttons and
views, private replies, attachments, interaction plumbing, the redelivery loop, the contact sheet.

Kept apart from the extensions (as python-discord/bot splits ``utils/`` from ``exts/``): discord.py
executes an extension module afresh on every load, so shared classes and state must live here."""
