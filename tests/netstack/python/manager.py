"""A multiprocessing.Manager: a server process reached over a unix socket, its proxies used from
several processes. Then Pools, started and torn down several times: a Pool's teardown wakes its
worker-handler thread's poll by a pipe write from another thread, which a lost wake-up in poll
once turned into a hang."""
import multiprocessing
def work(shared, lock, n):
    with lock:
        shared.append(n * n)
if __name__ == "__main__":
    with multiprocessing.Manager() as manager:
        shared = manager.list()
        lock = manager.Lock()
        procs = [multiprocessing.Process(target=work, args=(shared, lock, n)) for n in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        print(sorted(shared), [p.exitcode for p in procs])
        d = manager.dict(a=1)
        d["b"] = 2
        print(sorted(d.items()))
    for round_ in range(3):
        with multiprocessing.Pool(2) as pool:
            print(round_, sum(pool.map(abs, range(-50, 50))))
