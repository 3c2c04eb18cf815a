"""Service actors: each owns its state and is reached only through the bus."""
