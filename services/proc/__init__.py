"""The ``proc`` service: what the kernel tells the rest of the Sentry about its processes."""
