/* codegen.h - IR to standalone C (NAME.c + NAME.h; docs/c-api.md). */
#ifndef XF_CODEGEN_H
#define XF_CODEGEN_H

#include "../ir/ir.h"

typedef struct {
    XfWeightFormat weights;     /* XF_WEIGHTS_F32 unless --weights says otherwise */
    const char *command_line;   /* recorded in the file's first comment */
    bool        line_directives;/* emit #line N "model.xf" before each kernel */
} XfCgOptions;

/* Writes out_c (which must end in .c) and the header beside it, both
 * atomically; on failure neither is left behind and err says why.  The graph
 * must have been through the whole pipeline (memory plan done). */
/* The same text, in memory: c_text and h_text (empty on entry) receive the
 * two files; out_c names the .c (its basename is #included and #line'd). */
bool cg_model_emit(const XfGraph *g, const char *out_c, const XfCgOptions *opt, XfStrBuf *c_text,
                   XfStrBuf *h_text, char *err, size_t err_size);

bool cg_model_write(const XfGraph *g, const char *out_c, const XfCgOptions *opt, char *err,
                    size_t err_size);

#endif
