"""Scheduling and process attributes: sched_* policies and priorities, getcpu, membarrier,
mlock*, personality, sethostname/setdomainname, unshare/setns."""

from __future__ import annotations
