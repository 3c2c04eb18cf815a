"""A multiprocessing.Manager: a server process reached over a unix socket, its proxies used from
several processes. (A multiprocessing.Pool, which needs no socket, sometimes hangs under load: a
known bug of process-shared semaphores, noted on issue 15.)"""
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
