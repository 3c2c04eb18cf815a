"""The gofer tests' sample tree, for the gofer's attempts on the host."""

from tests.gofer.conftest import tree  # noqa: F401
