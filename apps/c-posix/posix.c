/* c-posix: the POSIX and Linux surface real programs use (files, directories, pipes,
 * eventfds, socket pairs, poll/select/epoll, descriptors, locks, limits, devices,
 * /etc and /proc), checked against Linux's rules. Each check prints one line; the last
 * line is "N passed, N failed". The same program runs natively on the host (as root, in
 * /tmp), and its output there is what the guest's console must show, byte for byte. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static int passed, failed;

static void check(int ok, const char *what) {
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (ok)
        passed++;
    else
        failed++;
}

/* errno of the last call was `e`. */
static int err(int e) { return errno == e; }

static void files(void) {
    const char *d = "/tmp/c-posix";
    char buf[256];
    mkdir(d, 0755);
    check(chdir(d) == 0, "chdir to a new directory in /tmp");
    check(getcwd(buf, sizeof buf) && strcmp(buf, d) == 0, "getcwd names it");
    int fd = open("a.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
    check(fd >= 3, "open(O_CREAT) gives the lowest free descriptor");
    check(write(fd, "hello, world\n", 13) == 13, "write 13 bytes");
    check(lseek(fd, 0, SEEK_CUR) == 13, "the position moved to 13");
    check(pread(fd, buf, 5, 7) == 5 && memcmp(buf, "world", 5) == 0, "pread at 7");
    check(pwrite(fd, "W", 1, 7) == 1 && lseek(fd, 0, SEEK_CUR) == 13, "pwrite leaves the position");
    check(lseek(fd, 0, SEEK_SET) == 0 && read(fd, buf, 100) == 13 && memcmp(buf, "hello, World\n", 13) == 0,
          "read back after lseek");
    check(read(fd, buf, 100) == 0, "read at the end gives 0");
    struct stat st;
    check(fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 13 && st.st_nlink == 1,
          "fstat: a regular file of 13 bytes, one link");
    check((st.st_mode & 0777) == 0644, "mode 0644 under umask 022");
    check(ftruncate(fd, 4) == 0 && fstat(fd, &st) == 0 && st.st_size == 4, "ftruncate to 4");
    check(lseek(fd, 100, SEEK_SET) == 100 && write(fd, "x", 1) == 1 && fstat(fd, &st) == 0 &&
              st.st_size == 101,
          "a write past the end grows the file");
    check(pread(fd, buf, 4, 50) == 4 && memcmp(buf, "\0\0\0\0", 4) == 0, "the hole reads as zeros");
    struct iovec iov[2] = {{"ab", 2}, {"cd", 2}};
    check(pwritev(fd, iov, 2, 0) == 4 && pread(fd, buf, 4, 0) == 4 && memcmp(buf, "abcd", 4) == 0,
          "pwritev gathers two buffers");
    close(fd);

    fd = open("a.txt", O_WRONLY | O_APPEND);
    check(write(fd, "END", 3) == 3 && fstat(fd, &st) == 0 && st.st_size == 104, "O_APPEND writes at the end");
    close(fd);
    check(open("a.txt", O_CREAT | O_EXCL | O_RDWR, 0600) < 0 && err(EEXIST), "O_EXCL on an existing file: EEXIST");
    check(open("missing", O_RDONLY) < 0 && err(ENOENT), "a missing file: ENOENT");
    check(open("a.txt/x", O_RDONLY) < 0 && err(ENOTDIR), "a file as a directory: ENOTDIR");
    check(open(".", O_WRONLY) < 0 && err(EISDIR), "a directory opened for writing: EISDIR");
    check(open("a.txt", O_RDONLY | O_DIRECTORY) < 0 && err(ENOTDIR), "O_DIRECTORY on a file: ENOTDIR");

    check(mkdir("sub", 0755) == 0 && mkdir("sub", 0755) < 0 && err(EEXIST), "mkdir, then EEXIST");
    check(symlink("a.txt", "link") == 0, "symlink");
    ssize_t n = readlink("link", buf, sizeof buf);
    check(n == 5 && memcmp(buf, "a.txt", 5) == 0, "readlink gives the target, no NUL");
    check(lstat("link", &st) == 0 && S_ISLNK(st.st_mode), "lstat sees the link");
    check(stat("link", &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 104, "stat follows it");
    check(open("link", O_RDONLY | O_NOFOLLOW) < 0 && err(ELOOP), "O_NOFOLLOW on a link: ELOOP");
    check(link("a.txt", "hard") == 0 && stat("a.txt", &st) == 0 && st.st_nlink == 2, "link: two links");
    check(rename("hard", "sub/moved") == 0 && access("sub/moved", F_OK) == 0 && access("hard", F_OK) < 0,
          "rename into a subdirectory");
    check(rename("sub", "sub/inner") < 0 && err(EINVAL), "rename a directory into itself: EINVAL");
    check(rmdir("sub") < 0 && err(ENOTEMPTY), "rmdir of a non-empty directory: ENOTEMPTY");
    check(unlink("sub") < 0 && err(EISDIR), "unlink of a directory: EISDIR");

    /* An unlinked file stays readable while it is open. */
    fd = open("gone", O_RDWR | O_CREAT, 0600);
    write(fd, "still here", 10);
    check(unlink("gone") == 0 && access("gone", F_OK) < 0, "unlink removes the name");
    check(pread(fd, buf, 10, 0) == 10 && memcmp(buf, "still here", 10) == 0, "the open file is still readable");
    close(fd);

    /* getdents through readdir, sorted here because the order is the file system's. */
    DIR *dir = opendir(".");
    char names[8][32];
    int count = 0;
    struct dirent *e;
    while (dir && (e = readdir(dir)) && count < 8) {
        snprintf(names[count++], 32, "%.24s%s", e->d_name, e->d_type == DT_DIR ? "/" : e->d_type == DT_LNK ? "@" : "");
    }
    if (dir)
        closedir(dir);
    qsort(names, count, 32, (int (*)(const void *, const void *))strcmp);
    char list[256] = "";
    for (int i = 0; i < count; i++) {
        strcat(list, " ");
        strcat(list, names[i]);
    }
    printf("directory:%s\n", list);
    check(count == 5, "readdir lists ., .., a.txt, link, sub");

    check(chmod("a.txt", 0600) == 0 && stat("a.txt", &st) == 0 && (st.st_mode & 0777) == 0600, "chmod is kept");
    struct timespec ts[2] = {{1000000000, 0}, {1234567890, 500}};
    check(utimensat(AT_FDCWD, "a.txt", ts, 0) == 0 && stat("a.txt", &st) == 0 && st.st_mtime == 1234567890 &&
              st.st_mtim.tv_nsec == 500,
          "utimensat sets the modification time");
    int dfd = open(".", O_RDONLY | O_DIRECTORY);
    check(dfd >= 0 && fstatat(dfd, "a.txt", &st, 0) == 0 && st.st_size == 104, "fstatat relative to a directory descriptor");
    check(openat(dfd, "sub/moved", O_RDONLY) >= 0, "openat through a subdirectory");
    close(dfd);
    unlink("sub/moved");
    unlink("link");
    unlink("a.txt");
    rmdir("sub");
    chdir("/");
    check(rmdir(d) == 0, "the directory is empty again and goes");
}

static void locks(void) {
    int fd = open("/tmp/c-posix.lock", O_RDWR | O_CREAT, 0600);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
    check(fcntl(fd, F_SETLK, &fl) == 0, "F_SETLK takes a write lock");
    struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
    check(fcntl(fd, F_GETLK, &q) == 0 && q.l_type == F_UNLCK, "F_GETLK: our own lock does not conflict");
    struct flock o = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 5, .l_len = 1};
    int fd2 = open("/tmp/c-posix.lock", O_RDWR);
    check(fcntl(fd2, F_OFD_SETLK, &o) < 0 && (errno == EAGAIN || errno == EACCES),
          "an OFD lock conflicts with the process's lock");
    fl.l_type = F_UNLCK;
    check(fcntl(fd, F_SETLK, &fl) == 0 && fcntl(fd2, F_OFD_SETLK, &o) == 0, "after unlocking it is free");
    check(flock(fd, LOCK_EX | LOCK_NB) == 0, "flock LOCK_EX");
    check(flock(fd2, LOCK_SH | LOCK_NB) < 0 && err(EWOULDBLOCK), "a second description cannot share it");
    close(fd);
    check(flock(fd2, LOCK_SH | LOCK_NB) == 0, "the close released it");
    close(fd2);
    unlink("/tmp/c-posix.lock");
}

static void pipes(void) {
    int p[2];
    char buf[8];
    check(pipe2(p, O_CLOEXEC) == 0, "pipe2");
    check(fcntl(p[0], F_GETFD) == FD_CLOEXEC, "O_CLOEXEC on both ends");
    check(write(p[1], "abc", 3) == 3 && read(p[0], buf, 8) == 3 && memcmp(buf, "abc", 3) == 0, "bytes go through");
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    check(read(p[0], buf, 8) < 0 && err(EAGAIN), "an empty non-blocking pipe: EAGAIN");
    struct pollfd pf[3] = {{p[0], POLLIN, 0}, {-1, POLLIN, 0}, {p[1], POLLOUT, 0}};
    check(poll(pf, 3, 0) == 1 && pf[1].revents == 0 && pf[2].revents == POLLOUT && pf[0].revents == 0,
          "poll: fd -1 is ignored, the write end is writable");
    int big = 0;
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    static char chunk[4096];
    while (write(p[1], chunk, sizeof chunk) == sizeof chunk)
        big += sizeof chunk;
    check(big == 65536 && err(EAGAIN), "a pipe holds 64 KiB, then EAGAIN");
    close(p[1]);
    int total = 0;
    ssize_t n;
    while ((n = read(p[0], chunk, sizeof chunk)) > 0)
        total += n;
    check(total == 65536 && n == 0, "after the writer closes: the data, then end of file");
    close(p[0]);
    check(pipe(p) == 0 && close(p[0]) == 0, "a pipe whose reader is gone");
    signal(SIGPIPE, SIG_IGN);
    check(write(p[1], "x", 1) < 0 && err(EPIPE), "writing to it: EPIPE");
    close(p[1]);

    int e = eventfd(3, EFD_NONBLOCK);
    uint64_t v = 0;
    check(read(e, &v, 8) == 8 && v == 3, "eventfd: the initial count");
    check(read(e, &v, 8) < 0 && err(EAGAIN), "eventfd: 0 reads EAGAIN");
    v = 5;
    check(write(e, &v, 8) == 8 && read(e, &v, 8) == 8 && v == 5, "eventfd: a write adds");
    close(e);

    int sv[2];
    check(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair(AF_UNIX, SOCK_STREAM)");
    check(write(sv[0], "ping", 4) == 4 && read(sv[1], buf, 8) == 4 && memcmp(buf, "ping", 4) == 0, "one way");
    check(write(sv[1], "pong", 4) == 4 && read(sv[0], buf, 8) == 4 && memcmp(buf, "pong", 4) == 0, "the other way");
    close(sv[1]);
    check(read(sv[0], buf, 8) == 0, "the peer closed: end of file");
    close(sv[0]);
    check(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0 && write(sv[0], "a", 1) == 1 && write(sv[0], "bc", 2) == 2 &&
              read(sv[1], buf, 8) == 1 && read(sv[1], buf, 8) == 2,
          "a datagram pair keeps message boundaries");
    close(sv[0]);
    close(sv[1]);

    int ep = epoll_create1(EPOLL_CLOEXEC);
    check(pipe(p) == 0, "a pipe for epoll");
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 42}, out[4];
    check(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) == 0, "epoll_ctl ADD");
    check(epoll_wait(ep, out, 4, 0) == 0, "nothing ready yet");
    write(p[1], "z", 1);
    check(epoll_wait(ep, out, 4, 100) == 1 && out[0].data.u64 == 42 && out[0].events == EPOLLIN, "readable: reported");
    int dupfd = dup(p[0]);
    close(p[0]);
    check(epoll_wait(ep, out, 4, 0) == 1, "a registration lives while a dup holds the description");
    close(dupfd);
    check(epoll_wait(ep, out, 4, 0) == 0, "and goes with its last close");
    close(p[1]);
    close(ep);

    struct timeval tv = {0, 20000};
    check(select(0, NULL, NULL, NULL, &tv) == 0, "select with nothing to wait for sleeps and returns 0");
    check(poll(NULL, 0, 10) == 0, "poll with no descriptors sleeps and returns 0");
}

static void descriptors(void) {
    int fd = open("/dev/null", O_RDWR);
    check(fd >= 0 && dup2(fd, 100) == 100 && fcntl(100, F_GETFL) == (fcntl(fd, F_GETFL)), "dup2 shares the description");
    check(fcntl(fd, F_DUPFD, 50) == 50, "F_DUPFD: the lowest at or above 50");
    check(close(50) == 0 && close(100) == 0 && close(100) < 0 && err(EBADF), "closing twice: EBADF");
    check(dup3(fd, fd, 0) < 0 && err(EINVAL), "dup3 onto itself: EINVAL");
    struct rlimit rl;
    check(getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur >= 64, "getrlimit(RLIMIT_NOFILE)");
    struct rlimit small = {16, rl.rlim_max};
    check(setrlimit(RLIMIT_NOFILE, &small) == 0, "lower it to 16");
    int last = -1, k;
    while ((k = dup(fd)) >= 0)
        last = k;
    check(last == 15 && err(EMFILE), "descriptors end at the limit with EMFILE");
    for (int i = fd + 1; i <= 15; i++)
        close(i);
    check(setrlimit(RLIMIT_NOFILE, &rl) == 0, "and raise it back");
    close(fd);
}

static void devices(void) {
    char buf[16];
    int fd = open("/dev/null", O_RDWR);
    check(write(fd, "x", 1) == 1 && read(fd, buf, 16) == 0, "/dev/null: writes vanish, reads end");
    close(fd);
    fd = open("/dev/zero", O_RDONLY);
    memset(buf, 1, sizeof buf);
    check(read(fd, buf, 16) == 16 && buf[0] == 0 && buf[15] == 0, "/dev/zero gives zeros");
    close(fd);
    fd = open("/dev/full", O_WRONLY);
    check(write(fd, "x", 1) < 0 && err(ENOSPC), "/dev/full: ENOSPC");
    close(fd);
    fd = open("/dev/urandom", O_RDONLY);
    char a[16], b[16];
    check(read(fd, a, 16) == 16 && read(fd, b, 16) == 16 && memcmp(a, b, 16) != 0, "/dev/urandom");
    close(fd);
    struct stat st;
    check(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3,
          "/dev/null is character device 1:3");
    check(getpwnam("root") && getpwnam("root")->pw_uid == 0, "/etc/passwd has root");
    check(getgrgid(0) != NULL, "/etc/group has group 0");
    FILE *f = fopen("/proc/meminfo", "r");
    char line[128];
    check(f && fgets(line, sizeof line, f) && strncmp(line, "MemTotal:", 9) == 0, "/proc/meminfo starts with MemTotal");
    if (f)
        fclose(f);
    struct sysinfo si;
    check(sysinfo(&si) == 0 && si.totalram > 0 && si.freeram > 0 && si.freeram <= si.totalram && si.mem_unit >= 1,
          "sysinfo: free memory below total");
    check(sysconf(_SC_NPROCESSORS_ONLN) >= 1, "sysconf: processors online");
    time_t now = time(NULL);
    struct tm tm;
    check(localtime_r(&now, &tm) != NULL, "localtime");
}

int main(void) {
    umask(022);
    files();
    locks();
    pipes();
    descriptors();
    devices();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
