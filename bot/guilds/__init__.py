"""Community servers: each server's settings (defaults, limits, blocklist, quota), as plain data."""
