"""The operator CLI ``mfaops``: an entrypoint like ``functions/`` (parse, call one service, render)."""
