"""CloudChat domain package: shipped as the shared Lambda layer, imported by resolvers,
the local stack and the tests alike."""
