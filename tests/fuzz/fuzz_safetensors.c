/* fuzz_safetensors.c - libFuzzer target: the weight loader on file bytes.
 *
 * The input is written to a file and opened with xfrt_st_open; when that
 * succeeds, every tensor is fetched with its own dtype-free shape (reading
 * its bytes) as fp32, as stored, and converted to bf16 and q8 values, and a
 * few lookups that must fail are tried.  Every malformed
 * file must be refused with a message; nothing may read out of bounds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/xfrt.h"
#include "runtime/xfrt_wfmt.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static volatile float fuzz_sum;    /* keeps the reads of tensor data */

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static char path[128];
    if (!path[0])
        snprintf(path, sizeof path, "%s/xf_fuzz_st_%ld.safetensors",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (long)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
    XfrtSafetensors st;
    char err[512];
    err[0] = '\0';
    if (xfrt_st_open(&st, path, err, sizeof err) != 0) {
        if (!err[0])
            abort();            /* a refusal must say why */
        return 0;
    }
    for (int k = 0; k < st.n_tensors; k++) {
        XfrtTensorInfo t = st.tensors[k];
        const float *p;
        if (xfrt_st_get(&st, t.name, t.rank, t.dim, &p, err, sizeof err) == 0) {
            size_t n = (size_t)(t.end - t.begin) / (t.dtype == XFRT_DT_F32 ? 4 : 2);
            for (size_t i = 0; i < n; i++)
                fuzz_sum += p[i];
        } else if (!err[0]) {
            abort();
        }
        const void *raw;
        int dtype;
        if (xfrt_st_get_raw(&st, t.name, t.rank, t.dim, &raw, &dtype, err, sizeof err) == 0) {
            size_t size = dtype == XFRT_DT_F32 ? 4 : 2;
            if (dtype != t.dtype || (uintptr_t)raw % size)
                abort();
            const unsigned char *b = raw;
            for (size_t i = 0; i < (size_t)(t.end - t.begin); i++)
                fuzz_sum += b[i];
        }
        for (int fmt = XFRT_WF_BF16; fmt <= XFRT_WF_Q8; fmt++)
            if (xfrt_st_get_converted(&st, t.name, t.rank, t.dim, fmt, &p, err, sizeof err) == 0) {
                size_t n = (size_t)(t.end - t.begin) / (t.dtype == XFRT_DT_F32 ? 4 : 2);
                for (size_t i = 0; i < n; i++)
                    fuzz_sum += p[i];
            } else if (!err[0] || (t.dtype != XFRT_DT_OTHER && fmt != XFRT_WF_Q8)) {
                abort();            /* only q8 may refuse a readable tensor (non-finite values) */
            }
        int64_t wrong[8] = {1, 2, 3, 4, 5, 6, 7, 8};
        if (xfrt_st_get(&st, t.name, t.rank + 1 > 8 ? 8 : t.rank + 1, wrong, &p, err, sizeof err) ==
                0 && t.rank + 1 <= 8)
            abort();            /* a rank that differs cannot match */
    }
    const float *p;
    xfrt_st_get(&st, "no such tensor \x01", 1, (const int64_t[]){1}, &p, err, sizeof err);
    xfrt_st_close(&st);
    return 0;
}
