"""The registration monitor: normalise directory audit events, apply rules, suppress what mfaops caused."""
