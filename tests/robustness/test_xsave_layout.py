"""The XSAVE image a signal frame holds, on CPUs other than the one the tests run on.

A frame holds the process's *user* image (``fpstate->user_size`` and ``user_xfeatures``), not
the one ptrace shows: on a CPU with AMX, Linux leaves the tile data out until the process asks
for it, so the frame is 2816 bytes where ptrace's image is 11008. Sentrio once used ptrace's
image, and only a machine with AMX showed it (``fuzz --native --seed 3``); these cases pin
the arithmetic for such CPUs on any machine. The differential cases ``fp_layout`` and
``fp_not_permitted`` of ``test_signal_frames`` check it against the real host.
"""

from __future__ import annotations

from kernel.sigframe import HOST_XSAVE, HostXsave, Xstate

#: CPUID leaf 0xD of a Sapphire Rapids: (bit, offset, size) of AVX, the AVX-512 trio, PKRU and
#: the two AMX components.
SAPPHIRE_RAPIDS = ((2, 576, 256), (5, 1088, 64), (6, 1152, 512), (7, 1664, 1024), (9, 2688, 8),
                   (17, 2752, 64), (18, 2816, 8192))
XCR0_AMX = 0x602E7
TILE_DATA = 1 << 18


def test_withheld_tile_data_is_left_out_of_the_frame() -> None:
    host = HostXsave(permitted=XCR0_AMX & ~TILE_DATA, components=SAPPHIRE_RAPIDS)
    assert host.user_layout(XCR0_AMX, 11008) == (0x202E7, 2816)


def test_granted_tile_data_is_in_the_frame() -> None:
    host = HostXsave(permitted=XCR0_AMX, components=SAPPHIRE_RAPIDS)
    assert host.user_layout(XCR0_AMX, 11008) == (XCR0_AMX, 11008)


def test_nothing_withheld_is_ptrace_image_without_cpuid() -> None:
    """A CPU without dynamic components (or a kernel before them): ptrace's image is the
    frame's, even where CPUID could not be run."""
    assert HostXsave(permitted=0x2E7, components=()).user_layout(0x2E7, 2696) == (0x2E7, 2696)
    assert HostXsave(permitted=None, components=()).user_layout(0x7, 832) == (0x7, 832)


def test_unsizable_layout_falls_back_to_ptrace() -> None:
    host = HostXsave(permitted=XCR0_AMX & ~TILE_DATA, components=())
    assert host.user_layout(XCR0_AMX, 11008) == (XCR0_AMX, 11008)


def test_x87_and_sse_are_always_in_the_frame() -> None:
    host = HostXsave(permitted=0, components=SAPPHIRE_RAPIDS)
    assert host.user_layout(0x7, 832) == (0x3, 576)


def test_this_host_frame_fits_in_ptrace_image() -> None:
    """Whatever this machine is, the frame's image is a prefix of ptrace's and carries x87/SSE."""
    size = 512 + 64 + sum(size for _bit, _offset, size in HOST_XSAVE.components)
    state = bytearray(max(size, 1024))
    state[464:472] = (0x7).to_bytes(8, "little")
    layout = Xstate.of(bytes(state))
    assert 576 <= layout.user_size <= layout.size
    assert layout.user_features & 3 == 3
    assert not layout.user_features & ~layout.features
