/* sema.h - internals shared by sema.c, sema_value.c and sema_sublayer.c.
 *
 * Errors are queued (fe_sema_error) and printed in source order once the
 * whole model was checked, so a file's errors read top to bottom whatever
 * order the checks ran in.  A model fact that is missing or invalid is 0 in
 * XfSema, and every check that needs it is skipped (one error, not a cascade). */
#ifndef XF_SEMA_H
#define XF_SEMA_H

#include "ast.h"

/* The most block instances `layers` may expand to. */
#define XF_MAX_INSTANCES 65536

typedef struct {
    XfLoc       loc;
    const char *msg;
    XfLoc       note_loc;
    const char *note;           /* NULL: no note */
    int         seq;            /* queue order, to keep the sort stable */
} XfSemaDiag;

typedef struct {
    XfArena             *a;
    XF_VEC(XfSemaDiag)   diags;
    /* the model's settings, once checked; 0 = missing or invalid */
    int64_t              vocab, dim, context;
    XfPosition           position;
    XfNormDesc           norm;
} XfSema;

/* The parameters a call accepts. */
typedef struct {
    const char *name;
    bool        required;
} XfParamSpec;

/* ---- sema.c ------------------------------------------------------------- */
void fe_sema_error(XfSema *s, XfLoc loc, const char *fmt, ...) XF_PRINTF(3, 4);
/* Attaches a note to the error queued last. */
void fe_sema_note(XfSema *s, XfLoc loc, const char *fmt, ...) XF_PRINTF(3, 4);

/* ---- sema_value.c ---------------------------------------------------------
 * Each getter checks one parameter: `what` names it in messages, nloc is its
 * name and v its value (NULL for a bare flag, which means true).  They return
 * false after reporting an error at the value (at the name for a flag). */
XfLoc fe_sema_value_loc(XfLoc nloc, const XfAstValue *v);
bool  fe_sema_get_int(XfSema *s, const char *what, XfLoc nloc, const XfAstValue *v, int64_t *out);
/* The same for a value the generated C passes as an int (a size, a window):
 * at most XF_C_INT_MAX. */
#define XF_C_INT_MAX 2147483647
bool  fe_sema_get_c_int(XfSema *s, const char *what, XfLoc nloc, const XfAstValue *v, int64_t *out);
bool  fe_sema_get_bool(XfSema *s, const char *what, XfLoc nloc, const XfAstValue *v, bool *out);
bool  fe_sema_get_number(XfSema *s, const char *what, XfLoc nloc, const XfAstValue *v, double *out);
/* An exact decimal >= 0 (a capacity); range checks are the caller's. */
bool  fe_sema_get_ratio(XfSema *s, const char *what, XfLoc nloc, const XfAstValue *v, XfRatio *out);
/* A name from names[] (NULL-terminated), written bare or as a call without
 * arguments; kind names it in "unknown KIND 'x'". */
bool  fe_sema_get_choice(XfSema *s, const char *what, const char *kind, XfLoc nloc,
                         const XfAstValue *v, const char *const *names, int *out);
bool  fe_sema_get_norm(XfSema *s, XfLoc nloc, const XfAstValue *v, XfNormDesc *out);
/* The name of a value written as a bare name or an argument-free call; NULL otherwise. */
const char *fe_sema_value_name(const XfAstValue *v);
/* Matches args against spec: found[i] = the argument for spec[i] or NULL.
 * Reports unknown and duplicate parameters (at their names) and missing
 * required ones (at call_loc, the call's name); what names the call. */
void  fe_sema_match_args(XfSema *s, const char *what, XfLoc call_loc, const XfAstArg *args,
                         const XfParamSpec *spec, int n_spec, const XfAstArg **found);

/* One factor of a size product: loc.line == 0 when it may not carry the caret. */
typedef struct {
    const char *name;
    int64_t     v;
    XfLoc       loc;
} XfFactor;

/* Checks that 4 * prod(f) (fp32 bytes) fits in int64.  Reports an overflow at
 * the largest factor that has a location (else at fallback) and returns the
 * index of that factor, or -1 when the product fits.  Every v must be > 0. */
int fe_sema_check_size(XfSema *s, XfLoc fallback, const XfFactor *f, int n);

/* ---- sema_sublayer.c ---------------------------------------------------- */
/* The sublayer kind called `name`, or -1 when it is none. */
int  fe_sema_sublayer_kind(const char *name);
/* Checks a call of a known sublayer kind; false after reporting an error. */
bool fe_sema_sublayer(XfSema *s, const XfAstCall *c, XfSublayerDesc *out);
/* Checks the arguments of `mod(...) NAME` and fills e->mod_*. */
bool fe_sema_mod(XfSema *s, XfAstEntry *e);

#endif
