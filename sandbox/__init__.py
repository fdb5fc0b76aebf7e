"""The sandbox tenant: simulators and the local host for tests and `make run`. Never deployed."""
