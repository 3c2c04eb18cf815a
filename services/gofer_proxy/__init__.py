"""The gofer-proxy: the Sentry's side of its connections to gofer processes.

:mod:`services.gofer_proxy.connection` holds one connection (tags, multiplexing, EIO when the
gofer dies) and starts gofers; the actor that owns them and serves the VFS is still to come.
"""
