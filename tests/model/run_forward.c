/* run_forward.c - drives one xfc-generated model for the real-model tests.
 *
 *   run_forward WEIGHTS SCRIPT OUT.bin
 *
 * SCRIPT holds one command a line: "f T,T,..." (forward over the tokens) or
 * "d T" (decode one token).  Each command's output, [n][OUT] or [OUT]
 * floats, is appended to OUT.bin.  Built with -DXF_MODEL=<model name>. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xf_model.h"

#define OUT XF_FN(_OUT)

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: run_forward WEIGHTS SCRIPT OUT.bin\n");
        return 2;
    }
    char err[512];
    XF_MODEL *m = XF_FN(_open)(argv[1], err, sizeof err);
    if (!m) {
        fprintf(stderr, "run_forward: %s\n", err);
        return 1;
    }
    FILE *in = fopen(argv[2], "r"), *out = fopen(argv[3], "wb");
    int32_t *toks = malloc(sizeof(int32_t) * CONTEXT);
    float *y = malloc(sizeof(float) * (size_t)CONTEXT * OUT);
    if (!in || !out || !toks || !y) {
        fprintf(stderr, "run_forward: cannot open %s or %s\n", argv[2], argv[3]);
        return 1;
    }
    char line[1 << 16];
    int rc = 0, lineno = 0;
    while (rc == 0 && fgets(line, sizeof line, in)) {
        lineno++;
        if (line[0] != 'f' && line[0] != 'd')
            continue;
        int n = 0;
        for (char *p = line + 1; *p && n < CONTEXT;) {
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p)
                break;
            toks[n++] = (int32_t)v;
            p = end + (*end == ',');
        }
        int r = line[0] == 'f' ? XF_FN(_forward)(m, toks, n, y) : XF_FN(_decode)(m, toks[0], y);
        if (r != 0) {
            fprintf(stderr, "run_forward: line %d: %s returned %d\n", lineno,
                    line[0] == 'f' ? "forward" : "decode", r);
            rc = 1;
            break;
        }
        size_t count = (size_t)(line[0] == 'f' ? n : 1) * OUT;
        if (fwrite(y, sizeof(float), count, out) != count)
            rc = 1;
    }
    if (fclose(out) != 0)
        rc = 1;
    fclose(in);
    free(toks);
    free(y);
    XF_FN(_close)(m);
    return rc;
}
