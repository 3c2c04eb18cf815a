/* O_TMPFILE: an unnamed file, then given a name with linkat(AT_EMPTY_PATH). */
#include "check.h"
#include <fcntl.h>
#include <sys/stat.h>

int main(void) {
    int fd;
    struct stat st;
    char buf[16] = {0};
    T(fd = open("/tmp", O_TMPFILE | O_RDWR, 0600));
    T(write(fd, "unnamed", 7));
    T(fstat(fd, &st));
    printf("nlink %ld size %ld\n", (long)st.st_nlink, (long)st.st_size);
    T(linkat(fd, "", AT_FDCWD, "/tmp/named", AT_EMPTY_PATH));
    T(fstat(fd, &st));
    printf("nlink %ld\n", (long)st.st_nlink);
    int again;
    T(again = open("/tmp/named", O_RDONLY));
    T(read(again, buf, sizeof buf));
    printf("read: %s\n", buf);
    T(linkat(fd, "", AT_FDCWD, "/tmp/named", AT_EMPTY_PATH));
    T(open("/tmp", O_TMPFILE | O_RDONLY, 0600));
    T(open("/data/existing", O_TMPFILE | O_RDWR, 0600));
    return 0;
}
