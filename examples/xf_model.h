/* xf_model.h - include the generated model named by -DXF_MODEL=name (its
 * header is name.h, found through -I) and name its API generically:
 * XF_FN(_open) is name_open, VOCAB and CONTEXT its sizes.  Used by the app
 * example and the benchmark driver. */
#ifndef XF_MODEL_INCLUDE_H
#define XF_MODEL_INCLUDE_H

#ifndef XF_MODEL
#error "compile with -DXF_MODEL=<model name>"
#endif
#define XF_STR2(x) #x
#define XF_STR(x) XF_STR2(x)
#define XF_CAT2(a, b) a##b
#define XF_CAT(a, b) XF_CAT2(a, b)
#define XF_FN(s) XF_CAT(XF_MODEL, s)
#include XF_STR(XF_MODEL.h)

#define VOCAB XF_FN(_VOCAB)
#define CONTEXT XF_FN(_CONTEXT)

#endif
