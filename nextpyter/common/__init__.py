"""What the sidecar and pagletto share: settings readers, Redis keys and connection,
the engine connection, the image grammar, logging. Imports neither service."""
