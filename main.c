/* main.c - the xfc driver: flags, the pipeline, an exit code. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codegen/codegen.h"
#include "frontend/frontend.h"
#include "passes/passes.h"

#ifndef XF_REVISION   /* set by CMake at configure time (git describe) */
#define XF_REVISION "unknown"
#endif

static const char usage[] =
    "usage: xfc MODEL.xf [options]\n"
    "\n"
    "Compiles a .xf model description to standalone C11 (+ optional OpenMP).\n"
    "The language, the generated API and the weight names are described in\n"
    "xfc's docs (docs/ in the source tree, share/doc/xfc when installed) and man xfc.\n"
    "\n"
    "options:\n"
    "  -o OUT.c                 write OUT.c and OUT.h (the generated model, API prefix = model name)\n"
    "  --dump-ir                print the optimized IR to stdout\n"
    "  --dump-ir=PASS[,PASS]    print the IR after each named pass (or `all`)\n"
    "  --dump-dot FILE          write the final IR as a Graphviz graph\n"
    "  --stats                  print parameters (total, activated per token), FLOPs per token\n"
    "                           per block instance and in total, the memory plan's peak, the\n"
    "                           weight format and its resident weight bytes, and\n"
    "                           per forward and decode step the kernel calls, parallel regions,\n"
    "                           barriers and activation bytes written and read\n"
    "  --list-passes            print the pass pipeline and exit\n"
    "  --weights FORMAT         how the generated model keeps its matrices: f32 (the\n"
    "                           default), bf16 or q8 (8-bit blocks with a scale); norms,\n"
    "                           biases, routers and the rest stay f32 (docs/semantics.md)\n"
    "  --init-weights FILE      write random weights for the model (safetensors)\n"
    "  --init-dtype DTYPE       dtype of every tensor --init-weights writes: F32 (the\n"
    "                           default), BF16 or F16 (the F32 values rounded to nearest even)\n"
    "  --seed N                 seed for --init-weights (default 0)\n"
    "  --line-directives        emit #line directives pointing at the .xf file\n"
    "  --no-verify              skip the IR verifier between passes (on by default)\n"
    "  --no-fuse                leave out the fuse pass's groups (one kernel per op)\n"
    "  -h, --help               this text\n"
    "  --version                print the version and the source revision\n"
    "\n"
    "With no output option, xfc parses, checks, lowers and verifies MODEL.xf.\n"
    "Errors are reported as file:line:col with the source line and a caret.\n"
    "\n"
    "exit status:\n"
    "  0  success (also for --help, --version, --list-passes)\n"
    "  1  any error: a bad option, an unreadable input, an error in the model,\n"
    "     an output that could not be written (no partial file is left)\n"
    "  other (abort)  an internal error: a bug in xfc, please report it\n";

typedef struct {
    const char *input, *out_c, *dump_ir, *dump_dot, *init_weights;
    bool        stats, list_passes, line_directives, verify, no_fuse;
    uint64_t    seed;
    XfWeightFormat weights;     /* --weights */
    XfFileDtype init_dtype;     /* --init-dtype */
} Options;

static int fail(const char *fmt, const char *arg)
{
    fprintf(stderr, "xfc: error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    return 1;
}

/* The index of v among names[3], or -1. */
static int pick(const char *v, const char *const names[3], bool any_case)
{
    for (int k = 0; k < 3; k++)
        if (any_case ? !strcasecmp(v, names[k]) : !strcmp(v, names[k]))
            return k;
    return -1;
}

static int parse_args(int argc, char **argv, Options *o)
{
    o->verify = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_next = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return -1;
        } else if (!strcmp(a, "--version")) {
            printf("xfc %s (revision %s)\n", XF_VERSION, XF_REVISION);
            return -1;
        } else if (!strcmp(a, "-o") && has_next) {
            o->out_c = argv[++i];
        } else if (!strcmp(a, "--dump-ir")) {
            o->dump_ir = "";
        } else if (!strncmp(a, "--dump-ir=", 10)) {
            o->dump_ir = a + 10;
        } else if (!strcmp(a, "--dump-dot") && has_next) {
            o->dump_dot = argv[++i];
        } else if (!strcmp(a, "--stats")) {
            o->stats = true;
        } else if (!strcmp(a, "--list-passes")) {
            o->list_passes = true;
        } else if (!strcmp(a, "--init-weights") && has_next) {
            o->init_weights = argv[++i];
        } else if (!strcmp(a, "--weights") && has_next) {
            static const char *const formats[] = {"f32", "bf16", "q8"};   /* XfWeightFormat order */
            int k = pick(argv[++i], formats, false);
            if (k < 0)
                return fail("--weights expects f32, bf16 or q8, got '%s'", argv[i]);
            o->weights = (XfWeightFormat)k;
        } else if (!strcmp(a, "--init-dtype") && has_next) {
            static const char *const dtypes[] = {"F32", "BF16", "F16"};   /* XfFileDtype order */
            int k = pick(argv[++i], dtypes, true);
            if (k < 0)
                return fail("--init-dtype expects F32, BF16 or F16, got '%s'", argv[i]);
            o->init_dtype = (XfFileDtype)k;
        } else if (!strcmp(a, "--seed") && has_next) {
            char *end;
            errno = 0;
            o->seed = strtoull(argv[++i], &end, 10);
            if (errno || *end || !*argv[i] || argv[i][0] == '-')
                return fail("--seed expects a non-negative integer, got '%s'", argv[i]);
        } else if (!strcmp(a, "--line-directives")) {
            o->line_directives = true;
        } else if (!strcmp(a, "--no-verify")) {
            o->verify = false;
        } else if (!strcmp(a, "--no-fuse")) {
            o->no_fuse = true;
        } else if (a[0] == '-' && a[1]) {
            if (!strcmp(a, "-o") || !strcmp(a, "--dump-dot") || !strcmp(a, "--init-weights") ||
                !strcmp(a, "--seed") || !strcmp(a, "--weights") || !strcmp(a, "--init-dtype"))
                return fail("%s expects an argument", a);
            return fail("unknown option '%s' (see xfc --help)", a);
        } else if (o->input) {
            return fail("more than one input file ('%s')", a);
        } else {
            o->input = a;
        }
    }
    if (o->out_c) {
        size_t n = strlen(o->out_c);
        if (n < 3 || strcmp(o->out_c + n - 2, ".c"))
            return fail("-o expects a path ending in .c, got '%s'", o->out_c);
    }
    if (o->dump_ir && *o->dump_ir) {
        char *list = strdup(o->dump_ir);
        for (char *t = strtok(list, ","); t; t = strtok(NULL, ","))
            if (!pass_name_known(t)) {
                int r = fail("--dump-ir: no pass named '%s' (see xfc --list-passes)", t);
                free(list);
                return r;
            }
        free(list);
    }
    return 0;
}

static bool write_dot(const XfGraph *g, const char *path)
{
    char *buf = NULL, err[256];
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return false;
    ir_graph_dump_dot(g, f);
    fclose(f);
    bool ok = xf_write_file_atomic(path, buf, len, err, sizeof err);
    if (!ok)
        fprintf(stderr, "xfc: error: %s\n", err);
    free(buf);
    return ok;
}

static int compile(const Options *o, const char *src, size_t len, const char *cmdline)
{
    XfArena *session = xf_arena_new();
    XfDiag d;
    xf_diag_init(&d, o->input, src, len, stderr);
    XfModelDesc *m = fe_model_parse(session, &d, src, len);
    if (!m || d.n_errors) {
        xf_arena_free(session);
        return 1;
    }
    XfGraph *g = fe_model_lower(m, o->input);
    xf_arena_free(session);
    int rc = 1;
    XfPassCtx cx = {.err = stderr, .diag = &d, .dump_out = stdout, .verify = o->verify,
                    .no_fuse = o->no_fuse};
    if (o->dump_ir && *o->dump_ir)
        cx.dump_after = o->dump_ir;
    if (o->verify && !ir_verify(g, stderr)) {
        fprintf(stderr, "xfc: internal error: IR invalid after lowering\n");
        goto done;
    }
    if (!pass_pipeline_run(g, &cx))
        goto done;
    if (o->dump_ir && !*o->dump_ir)
        ir_graph_dump(g, stdout);
    if (o->stats)
        pass_stats_print(g, &cx.stats, o->weights, stdout);
    if (o->dump_dot && !write_dot(g, o->dump_dot))
        goto done;
    char err[512];
    if (o->init_weights && !ir_weights_init(g, o->init_weights, o->seed, o->init_dtype, err,
                                              sizeof err)) {
        fprintf(stderr, "xfc: error: %s\n", err);
        goto done;
    }
    if (o->out_c) {
        XfCgOptions cg = {.weights = o->weights, .command_line = cmdline,
                          .line_directives = o->line_directives};
        if (!cg_model_write(g, o->out_c, &cg, err, sizeof err)) {
            fprintf(stderr, "xfc: error: %s\n", err);
            goto done;
        }
    }
    rc = 0;
done:
    pass_ctx_free(&cx);
    ir_graph_free(g);
    return rc;
}

int main(int argc, char **argv)
{
    Options o = {0};
    int r = parse_args(argc, argv, &o);
    if (r)
        return r < 0 ? 0 : 1;
    if (o.list_passes) {
        for (int i = 0; i < xf_n_passes; i++)
            printf("%-10s %s\n", xf_passes[i].name, xf_passes[i].what);
        return 0;
    }
    if (!o.input) {
        fputs(usage, stderr);
        return 1;
    }
    size_t len;
    errno = 0;
    char *src = xf_read_file(o.input, &len);
    if (!src) {
        fprintf(stderr, "xfc: error: cannot read '%s': %s\n", o.input,
                errno ? strerror(errno) : "read error");
        return 1;
    }
    /* the command line, for the generated file's first comment (basename of inputs only) */
    XfStrBuf cmd = {0};
    xf_sb_puts(&cmd, "xfc");
    for (int i = 1; i < argc; i++)
        xf_sb_printf(&cmd, " %s", argv[i]);
    int rc = compile(&o, src, len, cmd.data);
    xf_sb_free(&cmd);
    free(src);
    return rc;
}
