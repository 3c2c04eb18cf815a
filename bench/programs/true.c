/* true: exit 0 at once (the program fork_exec_wait executes). */
int main(void) { return 0; }
