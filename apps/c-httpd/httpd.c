/* c-httpd: a small web server in C, on musl's sockets and poll(), under ferrun.
 *
 * One thread, non-blocking sockets: accept4(SOCK_NONBLOCK), a poll() set of the listener
 * and every connection, a request read until its blank line, a fixed page written back
 * (HTTP/1.1 with Connection: close), the connection closed. Port from argv[1] (8080).
 * It runs until the domain is shut down. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNS 128

static const char page[] =
    "<!DOCTYPE html>\n<html><head><title>c-httpd</title></head>\n"
    "<body><h1>hello from C on ferrun</h1>\n"
    "<p>musl's sockets and poll(), through libc-shim, on ferrun's network service.</p>\n"
    "</body></html>\n";

struct conn {
    int fd;
    char req[4096];
    size_t got;
    char *out;
    size_t out_len, sent;
};

static void drop(struct conn *c) {
    close(c->fd);
    free(c->out);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 8080;
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (ls < 0) {
        perror("socket");
        return 1;
    }
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 128) < 0) {
        perror("bind/listen");
        return 1;
    }
    printf("c-httpd: listening on port %d\n", port);
    fflush(stdout);

    static struct conn conns[MAX_CONNS];
    for (int i = 0; i < MAX_CONNS; i++)
        conns[i].fd = -1;
    unsigned long served = 0;
    for (;;) {
        struct pollfd p[MAX_CONNS + 1];
        int map[MAX_CONNS + 1], n = 0;
        p[n] = (struct pollfd){.fd = ls, .events = POLLIN};
        map[n++] = -1;
        for (int i = 0; i < MAX_CONNS; i++) {
            if (conns[i].fd < 0)
                continue;
            p[n] = (struct pollfd){.fd = conns[i].fd, .events = conns[i].out ? POLLOUT : POLLIN};
            map[n++] = i;
        }
        if (poll(p, n, -1) < 0) {
            perror("poll");
            continue;
        }
        for (int k = 1; k < n; k++) {
            struct conn *c = &conns[map[k]];
            if (!p[k].revents)
                continue;
            if (!c->out) {
                ssize_t r = read(c->fd, c->req + c->got, sizeof c->req - 1 - c->got);
                if (r <= 0) {
                    if (r < 0 && errno == EAGAIN)
                        continue;
                    drop(c);
                    continue;
                }
                c->got += r;
                c->req[c->got] = 0;
                if (!strstr(c->req, "\r\n\r\n") && c->got < sizeof c->req - 1)
                    continue;
                int ok = strncmp(c->req, "GET / ", 6) == 0 || strncmp(c->req, "GET /?", 6) == 0;
                char head[256];
                int hl = snprintf(head, sizeof head,
                                  "HTTP/1.1 %s\r\nContent-Type: text/html\r\n"
                                  "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                                  ok ? "200 OK" : "404 Not Found", ok ? sizeof page - 1 : 0);
                c->out_len = hl + (ok ? sizeof page - 1 : 0);
                c->out = malloc(c->out_len);
                memcpy(c->out, head, hl);
                if (ok)
                    memcpy(c->out + hl, page, sizeof page - 1);
                c->sent = 0;
            }
            ssize_t w = write(c->fd, c->out + c->sent, c->out_len - c->sent);
            if (w < 0) {
                if (errno != EAGAIN)
                    drop(c);
                continue;
            }
            c->sent += w;
            if (c->sent == c->out_len) {
                served++;
                shutdown(c->fd, SHUT_WR);
                drop(c);
            }
        }
        if (p[0].revents & POLLIN) {
            for (;;) {
                int slot = -1;
                for (int i = 0; i < MAX_CONNS; i++)
                    if (conns[i].fd < 0) {
                        slot = i;
                        break;
                    }
                if (slot < 0)
                    break;
                int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
                if (fd < 0)
                    break;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                conns[slot].fd = fd;
            }
        }
    }
}
