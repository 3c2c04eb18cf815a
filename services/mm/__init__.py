"""The memory manager: the memory file, mapping tables, and the ``mm`` actor."""
