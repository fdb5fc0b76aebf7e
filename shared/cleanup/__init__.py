"""Stale-method cleanup by policy: plan first (stored, bounded), apply once, every removal recorded."""
