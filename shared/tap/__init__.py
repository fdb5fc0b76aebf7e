"""Temporary Access Pass hygiene: the sweep that deletes passes that are spent, too old, multi-use against policy,
or no longer needed after an mfaops reset."""
