"""A multiprocessing.Manager (a server process reached over a unix socket) and a Pool."""
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
    with multiprocessing.Pool(2) as pool:
        print(pool.map(abs, [-1, -2, 3]))
