"""Generation engine: synchronous, owned by one worker thread. It imports no Discord, no database and
no settings: it is given plain data (``EngineConfig``, ``GenerationRequest``) and returns plain data."""

from bot.engine import quiet as _quiet  # noqa: F401  (its filters must be in place before diffusers loads)
