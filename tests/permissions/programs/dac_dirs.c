/* Directories: creating and removing entries needs write and search permission on the
 * directory; a sticky directory lets only the owner of the entry or of the directory (or
 * CAP_FOWNER) remove or replace it; moving a directory elsewhere needs write on it. */
#include "dac.h"

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    umask(022);
    TRY(mkdir("/data/newdir", 0755));
    TRY(mkdir("/scratch/newdir", 0700));
    owner("/scratch/newdir");
    TRY(mkdir("/data/other_dir/sub", 0755));
    TRY(mkdir("/data/readonly_dir/sub", 0755));
    TRY(rmdir("/scratch/other_dir"));
    TRY(unlink("/scratch/other_file"));
    TRY(rename("/scratch/other_file", "/scratch/moved"));
    TRY(rename("/scratch/user_file", "/scratch/other_file"));
    TRY(unlink("/data/sticky/strangers"));
    TRY(rename("/data/sticky/strangers", "/data/sticky/mine"));
    TRY(unlink("/data/sticky/users"));
    TRY(unlink("/data/shared/victim"));
    TRY(unlink("/data/root_public"));
    TRY(rename("/data/root_public", "/scratch/stolen"));
    TRY(rename("/home/user/notes", "/home/user/notes2"));
    TRY(rename("/home/user/notes2", "/scratch/notes"));
    owner("/scratch/notes");
    TRY(rmdir("/data/readonly_dir"));
    TRY(rename("/data/shared/rootdir", "/data/shared/rootdir2"));
    TRY(rename("/data/shared/rootdir2", "/scratch/rootdir"));
    TRY(rename("/scratch/other_dir", "/scratch/od2"));
    TRY(unlink("/data/other_dir/theirs"));
    TRY(rmdir("/home/other"));
    owner("/scratch/other_file");
    owner("/data/sticky/strangers");
    owner("/data/shared/victim");
    owner("/data/newdir");
    return 0;
}
