"""Guessing is not free: lookups by order, payment or payment-request number that find
nothing are counted per user and per IP, and past a limit every such lookup waits (429)."""
