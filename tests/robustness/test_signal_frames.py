"""Signal frames a hostile guest breaks on purpose (issue 18, item 1 and the random-frame
divergences): Linux kills only that guest with SIGSEGV, or runs its SIGSEGV handler, and
accepts the FP images XRSTOR/FXRSTOR accept. On main the first case took the whole Sentry down
with a ``struct.error``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.robustness.conftest import same

CASES = {
    "frames that do not fit": ["ill_low_rsp", "ill_rsp_zero", "ill_low_rsp_segv_onstack", "ill_low_rsp_segv_handler",
                               "altstack_too_small", "altstack_unmapped", "altstack_unmapped_segv_handler",
                               "altstack_unmapped_segv_onstack", "altstack_huge_size", "autodisarm"],
    "rt_sigreturn with a low stack pointer": ["sigreturn_low_rsp", "sigreturn_rsp_zero",
                                              "sigreturn_low_rsp_segv_onstack", "sigreturn_low_rsp_segv_handler"],
    "FP images handed back": ["fp_layout", "fp_xmm0", "fp_null", "fp_zero", "fp_ones", "fp_garbage",
                              "fp_legacy_only", "fp_magic2", "fp_small_size", "fp_bad_mxcsr", "fp_bad_mxcsr_legacy",
                              "fp_xcomp", "fp_header_byte16", "fp_header_tail", "fp_unsupported_feature",
                              "fp_not_permitted", "fp_x87_cw", "fp_misaligned", "fp_misaligned_legacy",
                              "fp_legacy_8", "fp_moved", "fp_unmapped",
                              "uc_stack_garbage", "uc_stack_small"],
}


@pytest.mark.parametrize("group", list(CASES))
def test_signal_frames_as_linux(image: Path, group: str) -> None:
    outcome = same(image, "/bin/sigframe", *CASES[group])
    # Each case reports how its child ended; a frame that does not fit is a SIGSEGV, not a hang.
    assert outcome.stdout.count("killed by signal 11") >= 1
