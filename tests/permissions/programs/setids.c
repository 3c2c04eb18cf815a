/* The set*id calls as Linux rules them: who may set what, what the saved and filesystem ids
 * become, the capability that lifts the rules (CAP_SETUID, CAP_SETGID), setgroups. */
#include "perm.h"
#include <grp.h>
#include <sys/fsuid.h>

static void users(void) {
    TRY(setuid(-1));
    TRY(setreuid(1001, -1));
    TRY(setreuid(-1, 1001));
    TRY(setresuid(1001, 1002, 1000));
    show("after setresuid(1001, 1002, 1000)");
    TRY(setresuid(-1, 1000, -1));
    TRY(setresuid(-1, 7, -1));
    TRY(setreuid(-1, 1001));
    show("after setreuid(-1, 1001)");
    TRY(setreuid(1002, -1));
    show("after setreuid(1002, -1)");
    TRY(setuid(1001));
    show("after setuid(1001)");
    TRY(setuid(1000));
    printf("setfsuid(5) returns %d, now %d\n", setfsuid(5), setfsuid(-1));
}

static void groups(void) {
    TRY(setgid(-1));
    TRY(setregid(1001, 1002));
    TRY(setresgid(-1, 1000, 1001));
    show("after the group calls");
    TRY(setgid(1001));
    TRY(setgid(50));
    printf("setfsgid(50) returns %d, now %d\n", setfsgid(50), setfsgid(-1));
    gid_t list[] = {7, 3, 5, 3};
    TRY(setgroups(4, list));
    gid_t got[8];
    int n = getgroups(8, got);
    printf("groups:");
    for (int i = 0; i < n; i++) printf(" %u", got[i]);
    printf("\n");
    TRY(getgroups(1, got));
    TRY(setgroups(65537, list));
    TRY(setgroups(-1, list));
    TRY(setgroups(1, (gid_t *)8));
    TRY(setgroups(0, NULL));
    TRY(getgroups(0, NULL));
}

static void back_and_forth(void) {
    /* A daemon's pattern: drop the effective uid, work, take it back. */
    TRY(setresgid(-1, 1000, -1));
    TRY(setresuid(-1, 1000, -1));
    show("effective user 1000");
    TRY(setgid(0));
    TRY(setresuid(-1, 0, -1));
    TRY(setgid(0));
    show("root again");
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    show("start");
    in_child("user ids", users);
    in_child("group ids", groups);
    in_child("back and forth", back_and_forth);
    return 0;
}
