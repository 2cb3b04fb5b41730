"""Generation engine: synchronous, owned by one worker thread. It imports no Discord, no database and
no settings: it is given plain data (``EngineConfig``, ``GenerationRequest``) and returns plain data."""
