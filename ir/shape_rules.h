/* shape_rules.h - the shape rule named on each ops.def line (defined in shape.c). */
#ifndef XF_SHAPE_RULES_H
#define XF_SHAPE_RULES_H
#include "ir.h"
#define XF_OP(e, text, min_in, max_in, shape, emit, attrs, flops, share, fuse, stream, mem, calls, syncs, kernels) \
    bool shape(XfGraph *g, XfId id, XfShape *out, XfDtype *dt, char *err, size_t n);
#include "ops.def"
#undef XF_OP
#endif
