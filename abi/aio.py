"""Linux's native asynchronous I/O ABI (<uapi/linux/aio_abi.h>): io_setup, io_submit,
io_getevents, io_pgetevents, io_cancel, io_destroy."""

from __future__ import annotations

import struct

# --- iocb.aio_lio_opcode ----------------------------------------------------------------------------
IOCB_CMD_PREAD = 0
IOCB_CMD_PWRITE = 1
IOCB_CMD_FSYNC = 2
IOCB_CMD_FDSYNC = 3
IOCB_CMD_POLL = 5
IOCB_CMD_NOOP = 6
IOCB_CMD_PREADV = 7
IOCB_CMD_PWRITEV = 8

# --- iocb.aio_flags ---------------------------------------------------------------------------------
#: aio_resfd names an eventfd to signal at completion.
IOCB_FLAG_RESFD = 1 << 0
#: aio_reqprio holds an I/O priority.
IOCB_FLAG_IOPRIO = 1 << 1

#: The key the kernel writes into a submitted iocb's aio_key (KIOCB_KEY).
KIOCB_KEY = 0

#: An aio_context_t (io_setup's *ctxp) and an iocb pointer of io_submit's array.
AIO_U64 = struct.Struct("<Q")
#: struct iocb: aio_data, aio_key, aio_rw_flags (little-endian order), aio_lio_opcode,
#: aio_reqprio, aio_fildes, aio_buf, aio_nbytes, aio_offset, aio_reserved2, aio_flags, aio_resfd.
IOCB = struct.Struct("<QIiHhIQQqQII")
#: Where aio_key lies in an iocb (io_submit writes KIOCB_KEY there).
IOCB_KEY_OFFSET = 8
#: struct io_event: data, obj (the iocb's address), res, res2.
IO_EVENT = struct.Struct("<QQqq")
#: struct __aio_sigset (io_pgetevents): the sigset's address and its size.
AIO_SIGSET = struct.Struct("<QQ")
#: struct aio_ring's header, which the ring mapping starts with (32 bytes).
AIO_RING_HEADER = 32

#: /proc/sys/fs/aio-max-nr: events all contexts of a machine may hold at once.
AIO_MAX_NR = 65536
#: io_setup refuses more events than fit 0x10000000 bytes of io_event (ioctx_alloc).
AIO_NR_EVENTS_LIMIT = 0x10000000 // IO_EVENT.size
