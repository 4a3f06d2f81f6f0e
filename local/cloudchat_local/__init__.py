"""The local stack: moto in server mode, provisioning from template.yaml, and an
AppSync-compatible emulator running the real resolvers. Never deployed."""
