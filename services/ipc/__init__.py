"""The ``ipc`` service: System V message queues and semaphore sets of the sandbox."""
