"""The ELF loader and the initial stack builder: pure code that plans what execve maps and writes.

:mod:`kernel.loader.elf` validates an executable and plans its segments; :mod:`kernel.loader.stack`
computes the bytes of the initial stack. Neither performs I/O but through a reader object, so the
caller (kernel.exec) decides how files are read and how memory is mapped.
"""
