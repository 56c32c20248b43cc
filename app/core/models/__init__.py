"""Model catalog, provisioning, GGUF inspection and digests."""
