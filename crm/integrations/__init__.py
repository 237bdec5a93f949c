"""Organizations' credentials for third parties: encryption, the provider registry, loading."""
