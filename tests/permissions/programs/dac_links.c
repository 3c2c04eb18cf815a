/* Links: hard links under protected_hardlinks (owner, or a regular non-set-id file one may
 * read and write, or CAP_FOWNER), symbolic links and their owner, mknod. */
#include "dac.h"

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    TRY(link("/data/root_private", "/scratch/l_private"));
    TRY(link("/data/root_world", "/scratch/l_world"));
    TRY(link("/data/user_file", "/scratch/l_user"));
    TRY(link("/data/other_suid", "/scratch/l_suid"));
    TRY(link("/data/other_private", "/scratch/l_other"));
    TRY(link("/data/root_public", "/data/l_public"));
    TRY(link("/scratch/other_file", "/scratch/l_other_file"));
    owner("/data/root_world");
    TRY(symlink("/data/root_private", "/scratch/s_private"));
    owner("/scratch/s_private");
    TRY(symlink("x", "/data/s_data"));
    TRY(mknod("/scratch/fifo", S_IFIFO | 0644, 0));
    owner("/scratch/fifo");
    TRY(mknod("/data/fifo", S_IFIFO | 0644, 0));
    TRY(mknod("/scratch/null2", S_IFCHR | 0666, makedev(1, 3)));
    return 0;
}
