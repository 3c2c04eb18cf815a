/* Opening files: read and write permission by owner, group and others, O_TRUNC, O_CREAT in
 * directories one may or may not write, the owner of what is created, truncate. */
#include "dac.h"

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    umask(022);
    TRY(probe("/data/root_private", O_RDONLY));
    TRY(probe("/data/root_private", O_WRONLY));
    TRY(probe("/data/root_public", O_RDONLY));
    TRY(probe("/data/root_public", O_RDWR));
    TRY(probe("/data/root_world", O_RDWR));
    TRY(probe("/data/other_private", O_RDONLY));
    TRY(probe("/data/other_group", O_RDONLY));
    TRY(probe("/data/user_private", O_RDWR));
    TRY(probe("/scratch/other_file", O_WRONLY));
    TRY(probe("/scratch/user_file", O_WRONLY));
    TRY(probe("/data/root_public", O_RDONLY | O_TRUNC));
    TRY(probe("/data/root_world", O_WRONLY | O_TRUNC));
    owner("/data/root_world");
    TRY(probe("/data/new", O_CREAT | O_WRONLY));
    TRY(probe("/data/root_public", O_CREAT | O_WRONLY));
    TRY(probe("/data/root_public", O_CREAT | O_EXCL | O_WRONLY));
    TRY(probe("/scratch/new", O_CREAT | O_WRONLY));
    owner("/scratch/new");
    TRY(probe("/tmp/new", O_CREAT | O_WRONLY));
    owner("/tmp/new");
    TRY(probe("/home/user/new", O_CREAT | O_RDWR));
    owner("/home/user/new");
    TRY(probe("/data/other_dir/new", O_CREAT | O_WRONLY));
    TRY(probe("/data/readonly_dir/new", O_CREAT | O_WRONLY));
    TRY(probe("/data/readonly_dir/kept", O_WRONLY));
    TRY(probe("/data/shared/new", O_CREAT | O_WRONLY));
    owner("/data/shared/new");
    TRY(probe("/data/locked/inner", O_RDONLY));
    TRY(probe("/data/searchonly/known", O_RDONLY));
    TRY(probe("/data/searchonly", O_RDONLY | O_DIRECTORY));
    TRY(probe("/data/searchonly", O_PATH));
    TRY(probe("/home/other", O_PATH));
    TRY(probe("/bin/showcaps_root_only", O_RDONLY));
    TRY(truncate("/data/root_public", 0));
    TRY(truncate("/data/root_world", 3));
    owner("/data/root_world");
    int fd = open("/data/root_world", O_RDONLY);
    TRY(ftruncate(fd, 0));
    close(fd);
    owner("/data/root_public");
    owner("/data/new");
    return 0;
}
