/* vsock-echo: the guest side of microvm's vsock test (busybox has no AF_VSOCK client). Built static by the
 * test with the host's gcc and put in the guest's initramfs.
 *   vsock-echo connect PORT MESSAGE  connects to the host (CID 2) on PORT, sends MESSAGE, shuts down its
 *                                    sending side, prints what comes back until EOF
 *   vsock-echo serve PORT            accepts one connection on PORT and echoes it back up to the first
 *                                    line break (or EOF), then closes it */
#include <linux/vm_sockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int fail(const char *what) { perror(what); return 1; }

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: vsock-echo connect PORT MESSAGE | serve PORT\n"); return 2; }
    struct sockaddr_vm address = { .svm_family = AF_VSOCK, .svm_port = (unsigned)atoi(argv[2]) };
    int fd = socket(AF_VSOCK, SOCK_STREAM, 0);
    if (fd < 0) return fail("socket");
    char buffer[4096];
    ssize_t count;
    if (strcmp(argv[1], "connect") == 0 && argc == 4) {
        address.svm_cid = VMADDR_CID_HOST;
        if (connect(fd, (struct sockaddr *)&address, sizeof address) < 0) return fail("connect");
        if (write(fd, argv[3], strlen(argv[3])) < 0) return fail("write");
        shutdown(fd, SHUT_WR);
        while ((count = read(fd, buffer, sizeof buffer)) > 0) fwrite(buffer, 1, (size_t)count, stdout);
        printf("\n");
        return count < 0 ? fail("read") : 0;
    }
    address.svm_cid = VMADDR_CID_ANY;
    if (bind(fd, (struct sockaddr *)&address, sizeof address) < 0) return fail("bind");
    if (listen(fd, 1) < 0) return fail("listen");
    int connection = accept(fd, NULL, NULL);
    if (connection < 0) return fail("accept");
    while ((count = read(connection, buffer, sizeof buffer)) > 0) {
        if (write(connection, buffer, (size_t)count) != count) return fail("write");
        if (memchr(buffer, '\n', (size_t)count)) break;
    }
    close(connection);
    return count < 0 ? fail("read") : 0;
}
