"""The Linux x86-64 ABI in one place: errno values, constants, struct layouts, syscall numbers.

Everything a handler needs to speak Linux to a guest is defined here and nowhere else, so a
reader can check a value against the kernel headers in one file.
"""
