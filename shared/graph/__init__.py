"""Microsoft Graph: the gateway port in the domain's words, and its msgraph-sdk adapter."""
