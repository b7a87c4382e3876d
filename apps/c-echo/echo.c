/* c-echo: reads console input a line at a time with fgets (stdin is the PV console) and
 * echoes each line back upper-cased, until "quit". */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    char line[256];
    printf("c-echo: type lines, 'quit' ends\n");
    fflush(stdout);
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = 0;
        if (strcmp(line, "quit") == 0)
            break;
        for (char *p = line; *p; p++)
            *p = toupper((unsigned char)*p);
        printf("c-echo: %s\n", line);
    }
    printf("c-echo: bye\n");
    return 0;
}
