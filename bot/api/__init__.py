"""The HTTP job API: the bot's queue, characters and face lock for scripts, web apps and automation.

FastAPI on the bot's own event loop (``server``), with the same services the Discord cogs call: an
API key acts as one Discord user, so their characters, limits, fair-queue turn and history are one.
"""
