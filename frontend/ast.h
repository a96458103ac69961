/* ast.h - the syntax tree of a .xf file as written, before any checking.
 *
 * The parser (xf.y, driven from xf.l) builds it in the caller's arena; sema
 * (sema*.c) checks it and turns it into an XfModelDesc.  Every node carries
 * the XfLoc of a token; lists are singly linked in source order.  Nothing
 * here is freed on its own: the arena owns it all. */
#ifndef XF_AST_H
#define XF_AST_H

#include "frontend.h"

typedef enum {
    XF_VAL_NUMBER,              /* text: the literal as written ("-1.5e3") */
    XF_VAL_NAME,                /* text: the name */
    XF_VAL_STRING,              /* text: the contents, without quotes */
    XF_VAL_BOOL,                /* b */
    XF_VAL_CALL,                /* call */
    XF_VAL_LIST,                /* items */
} XfValKind;

typedef struct XfAstValue XfAstValue;
typedef struct XfAstArg   XfAstArg;
typedef struct XfAstCall  XfAstCall;
typedef struct XfAstEntry XfAstEntry;

struct XfAstValue {
    XfValKind   kind;
    XfLoc       loc;            /* the whole value when it is on one line, else its first token */
    const char *text;
    bool        b;
    XfAstCall  *call;
    XfAstValue *items;          /* LIST: first item */
    int         n_items;
    XfAstValue *next;           /* next item of the enclosing list */
};

struct XfAstArg {
    const char *name;
    XfLoc       loc;            /* the name */
    XfAstValue *value;          /* NULL for a bare flag (`bidirectional`) */
    XfAstArg   *next;
};

struct XfAstCall {
    const char *name;
    XfLoc       loc;            /* the name */
    XfAstArg   *args;
    int         n_args;
    XfAstCall  *next;           /* next call of the enclosing block */
};

typedef struct XfAstSetting {
    const char          *name;
    XfLoc                loc;   /* the name */
    XfAstValue          *value;
    struct XfAstSetting *next;
} XfAstSetting;

typedef struct XfAstBlock {
    const char        *name;
    XfLoc              loc;     /* the name after `block` */
    XfAstCall         *calls;
    int                n_calls;
    struct XfAstBlock *next;
    /* filled by sema */
    bool               used;        /* referenced from layers */
    bool               duplicate;   /* an earlier block has the same name */
    bool               ok;          /* every call checked without error */
    XfSublayerDesc    *subs;        /* [n_calls] */
} XfAstBlock;

typedef enum {
    XF_ENTRY_REF,               /* NAME, NAME * N */
    XF_ENTRY_REPEAT,            /* repeat N { entries } */
    XF_ENTRY_MOD,               /* mod(args) NAME */
    XF_ENTRY_CALL,              /* an inline sublayer */
} XfEntryKind;

struct XfAstEntry {
    XfEntryKind kind;
    XfLoc       loc;            /* REF: the name; REPEAT: `repeat`; MOD: `mod`; CALL: the call's name */
    const char *name;           /* REF, MOD: the referenced block */
    XfLoc       name_loc;       /* REF, MOD: the reference */
    XfAstValue *count;          /* REF: N of `* N` (NULL when absent); REPEAT: N */
    XfAstArg   *args;           /* MOD: the arguments of mod(...) */
    int         n_args;
    XfAstCall  *call;           /* CALL */
    XfAstEntry *body;           /* REPEAT: the repeated entries */
    XfAstEntry *next;
    /* filled by sema */
    int64_t         n;          /* REF, REPEAT: the count (1 without `* N`) */
    XfAstBlock     *block;      /* REF, MOD: the resolved block */
    XfSublayerDesc *sub;        /* CALL: the checked sublayer */
    XfRatio         mod_capacity;
    bool            mod_sigmoid;
    double          mod_threshold;
};

typedef struct XfAstLayers {
    XfLoc               loc;    /* the `layers` keyword */
    XfAstEntry         *entries;
    struct XfAstLayers *next;
} XfAstLayers;

typedef struct {
    const char   *name;
    XfLoc         loc;          /* the name after `model` */
    XfAstSetting *settings, *last_setting;
    XfAstBlock   *blocks, *last_block;
    XfAstLayers  *layers, *last_layers;
} XfAstModel;

/* ---- ast.c -------------------------------------------------------------- */
XfAstValue *fe_ast_value_new(XfArena *a, XfValKind kind, XfLoc loc, const char *text);
void        fe_ast_model_add_setting(XfAstModel *m, XfAstSetting *s);
void        fe_ast_model_add_block(XfAstModel *m, XfAstBlock *b);
void        fe_ast_model_add_layers(XfAstModel *m, XfAstLayers *l);
/* A stable, indented text form of the tree (for tests and debugging). */
void        fe_ast_dump(const XfAstModel *m, XfStrBuf *out);
/* "512", "'relu'", "\"text\"", "true", "a call to 'f'", "a list": for messages. */
const char *fe_ast_value_describe(XfArena *a, const XfAstValue *v);

/* ---- xf.l (the scanner and the driver of the xf.y parser) ---------------
 * Parses src into an AST; NULL after reporting a syntax error to d. */
XfAstModel *fe_ast_parse(XfArena *a, XfDiag *d, const char *src, size_t len);

/* ---- sema.c ------------------------------------------------------------- */
/* Checks m, applies defaults and expands layers; NULL after reporting errors.
 * Records what it resolved in m (the fields marked "filled by sema"). */
XfModelDesc *fe_sema_check(XfArena *a, XfDiag *d, XfAstModel *m);

/* The state shared by the scanner and the parser (bison's %parse-param and
 * flex's yyextra).  Internal to xf.l and xf.y. */
typedef struct {
    XfArena    *arena;
    XfDiag     *diag;
    const char *src;
    size_t      len;
    uint32_t    line, col;      /* of the next byte to scan, 1-based */
    size_t      off;            /* byte offset of the next byte to scan */
    size_t      tok_off;        /* the last token scanned: offset and length */
    size_t      tok_len;
    XfLoc       last;           /* the last token handed to the parser */
    const char *bad_msg;        /* why the last error token is bad */
    XfAstModel *model;
} XfParser;

#endif
