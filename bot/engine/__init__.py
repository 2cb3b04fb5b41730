"""Generation engine: synchronous, owned by one worker thread, no Discord or database imports."""
