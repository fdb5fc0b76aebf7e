"""mfaops domain and adapters. Nothing here imports Azure Functions types."""
