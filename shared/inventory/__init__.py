"""The rolling inventory of every user's methods and their last use: what makes "stale" mean "unused"."""
