"""Thin trigger blueprints: parse the trigger, call one service, map the result."""
