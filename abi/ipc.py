"""System V IPC: constants, limits and struct layouts of linux/ipc.h, linux/msg.h, linux/sem.h
and their x86-64 ``*64_ds`` forms (what glibc's 64-bit calls pass, with IPC_64 set)."""

from __future__ import annotations

import struct

# --- linux/ipc.h ----------------------------------------------------------------------------------

IPC_PRIVATE = 0
IPC_CREAT = 0o1000
IPC_EXCL = 0o2000
IPC_NOWAIT = 0o4000

IPC_RMID = 0
IPC_SET = 1
IPC_STAT = 2
IPC_INFO = 3
#: Set in ``cmd`` by callers using the 64-bit structs (glibc always does on x86-64).
IPC_64 = 0x0100

#: An id is ``seq * IPCMNI_SEQ_MULTIPLIER + index`` (the index is the slot of the table).
IPCMNI = 32768
IPCMNI_SEQ_MULTIPLIER = 32768
SEQ_MAX = 0xFFFF

S_IRUGO = 0o444
S_IWUGO = 0o222

# --- linux/msg.h ----------------------------------------------------------------------------------

MSG_STAT = 11
MSG_INFO = 12
MSG_STAT_ANY = 13

MSG_NOERROR = 0o10000
MSG_EXCEPT = 0o20000
MSG_COPY = 0o40000

MSGMNI = 32000
MSGMAX = 8192
MSGMNB = 16384
MSGSSZ = 16
MSGPOOL = MSGMNI * MSGMNB // 1024
MSGMAP = MSGMNB
MSGTQL = MSGMNB
MSGSEG = 0xFFFF

# --- linux/sem.h ----------------------------------------------------------------------------------

GETPID = 11
GETVAL = 12
GETALL = 13
GETNCNT = 14
GETZCNT = 15
SETVAL = 16
SETALL = 17
SEM_STAT = 18
SEM_INFO = 19
SEM_STAT_ANY = 20

SEM_UNDO = 0x1000

SEMMNI = 32000
SEMMSL = 32000
SEMMNS = SEMMNI * SEMMSL
SEMOPM = 500
SEMVMX = 32767
SEMAEM = SEMVMX
SEMMNU = SEMMNS
SEMMAP = SEMMNS
SEMUME = SEMOPM
SEMUSZ = 20

# --- layouts --------------------------------------------------------------------------------------

#: struct ipc64_perm: key, uid, gid, cuid, cgid, mode, seq, pad, 2 unused longs.
IPC64_PERM = struct.Struct("<iIIIIIH6xQQ")
#: struct msqid64_ds: perm, stime, rtime, ctime, cbytes, qnum, qbytes, lspid, lrpid, 2 unused.
MSQID64_DS = struct.Struct("<48sqqqQQQii16x")
#: struct semid64_ds: perm, otime, unused, ctime, unused, nsems, 2 unused.
SEMID64_DS = struct.Struct("<48sq8xq8xQ16x")
#: struct msginfo: pool, map, max, mnb, mni, ssz, tql (ints), seg (unsigned short).
MSGINFO = struct.Struct("<iiiiiiiH2x")
#: struct seminfo: map, mni, mns, mnu, msl, opm, ume, usz, vmx, aem.
SEMINFO = struct.Struct("<10i")
#: struct sembuf: sem_num, sem_op, sem_flg.
SEMBUF = struct.Struct("<Hhh")
#: The head of struct msgbuf: long mtype (the text follows).
MSGBUF_HEAD = struct.Struct("<q")

assert IPC64_PERM.size == 48
assert MSQID64_DS.size == 120
assert SEMID64_DS.size == 104
assert MSGINFO.size == 32
#: One semaphore's value in GETALL/SETALL arrays (unsigned short).
SEM_VALUE = struct.Struct("<H")

# --- linux/shm.h ----------------------------------------------------------------------------------

SHM_RDONLY = 0o10000
SHM_RND = 0o20000
SHM_REMAP = 0o40000
SHM_EXEC = 0o100000
SHM_LOCK = 11
SHM_UNLOCK = 12
SHM_STAT = 13
SHM_INFO = 14
SHM_STAT_ANY = 15
#: Mode bits the kernel keeps in shm_perm.mode: removed while attached, and locked.
SHM_DEST = 0o1000
SHM_LOCKED = 0o2000

SHMMIN = 1
SHMMNI = 4096
SHMMAX = (1 << 64) - 1 - (1 << 24)
SHMALL = (1 << 64) - 1 - (1 << 24)
SHMSEG = SHMMNI
SHMLBA = 4096

#: struct shmid64_ds: perm, segsz, atime, dtime, ctime, cpid, lpid, nattch, 2 unused.
SHMID64_DS = struct.Struct("<48sQqqqiiQ16x")
#: struct shminfo64: shmmax, shmmin, shmmni, shmseg, shmall, 4 unused.
SHMINFO64 = struct.Struct("<QQQQQ32x")
#: struct shm_info: used_ids, shm_tot, shm_rss, shm_swp, swap_attempts, swap_successes.
SHM_INFO_STRUCT = struct.Struct("<i4xQQQQQ")

assert SHMID64_DS.size == 112
