/* Named pipes in one process: non-blocking opens, data through the name, ENXIO, O_RDWR. */
#include "check.h"
#include <fcntl.h>
#include <sys/stat.h>

int main(void) {
    char buf[16] = {0};
    struct stat st;
    int r, w, rw;
    T(mkfifo("/tmp/fifo", 0600));
    T(mkfifo("/tmp/fifo", 0600));
    T(stat("/tmp/fifo", &st));
    printf("fifo %d mode %o size %ld\n", S_ISFIFO(st.st_mode), st.st_mode & 0777, (long)st.st_size);
    T(open("/tmp/fifo", O_WRONLY | O_NONBLOCK));
    T(r = open("/tmp/fifo", O_RDONLY | O_NONBLOCK));
    T(read(r, buf, sizeof buf) == -1 ? -errno : 0);
    T(w = open("/tmp/fifo", O_WRONLY | O_NONBLOCK));
    T(write(w, "through", 7));
    T(read(r, buf, sizeof buf));
    printf("read: %s\n", buf);
    T(close(w));
    T(read(r, buf, sizeof buf));
    T(close(r));
    T(rw = open("/tmp/fifo", O_RDWR));
    T(write(rw, "self", 4));
    memset(buf, 0, sizeof buf);
    T(read(rw, buf, sizeof buf));
    printf("read: %s\n", buf);
    T(lseek(rw, 0, SEEK_SET));
    T(close(rw));
    T(mknod("/data/fifo2", S_IFIFO | 0644, 0));
    T(unlink("/data/fifo2"));
    T(unlink("/tmp/fifo"));
    return 0;
}
