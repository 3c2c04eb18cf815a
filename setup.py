"""What pyproject.toml cannot say: the zygote client's waiter is a small C *program*.

pyproject.toml declares the package and its C extension (platforms/ptrace/_fastptrace.c);
setuptools builds extensions but not executables, so ``build_ext`` here also compiles
``kernel/zygote/waiter.c`` into ``kernel/zygote/sentrio-wait``, with the same compiler, beside
the extension (in the source tree for an editable install). Like the extension it is optional:
without a C compiler the client of a served run waits in Python (kernel/zygote/client.py).
"""

from __future__ import annotations

import os

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import BaseError, CCompilerError

WAITER_SOURCE = os.path.join("kernel", "zygote", "waiter.c")
WAITER_NAME = "sentrio-wait"


class BuildExtensionsAndWaiter(build_ext):
    """``build_ext``, then the waiter program."""

    def run(self) -> None:
        super().run()
        self._build_waiter()

    def _build_waiter(self) -> None:
        if self.compiler is None or isinstance(self.compiler, str):  # no extension was built
            return
        directory = os.path.dirname(WAITER_SOURCE)
        if not self.inplace:
            directory = os.path.join(self.build_lib, directory)
        try:
            objects = self.compiler.compile([WAITER_SOURCE], output_dir=self.build_temp, extra_postargs=["-O2"])
            self.compiler.link_executable(objects, WAITER_NAME, output_dir=directory)
        except (CCompilerError, BaseError) as error:
            print(f"warning: {WAITER_NAME} was not built ({error}); a served run's client will wait in Python")


setup(cmdclass={"build_ext": BuildExtensionsAndWaiter})
