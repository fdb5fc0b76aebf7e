"""Proof before reset: the verification gate, its policy, its proofs and the manager's page."""
