/* Graph mode: a traced and compiled training step, replayed, trains exactly
 * as the eager step does; each compilation pass keeps the numbers; fusion
 * removes ops, memory planning shrinks memory, a replay allocates nothing, a
 * new batch size is traced once and kept. */
#include "nb_test.h"

#include "core/core_internal.h" /* which storage a tensor has */

#include <stdio.h>
#include <unistd.h>

#define STEPS 50
#define BATCH 32

typedef struct {
    nb_tensor *x, *y; /* STEPS * BATCH rows of Fashion-MNIST, contiguous */
} data;

static data first_rows(int64_t n) {
    nb_dataset ds = {0};
    ck_assert_msg(nb_dataset_load("fashion-mnist", &ds) == NB_OK, "%s", nb_error());
    data d = {nb_clone(nb_slice(ds.x, 0, 0, n, 1)), nb_clone(nb_slice(ds.y, 0, 0, n, 1))};
    nb_dataset_free(&ds);
    return d;
}

static nb_model *mlp(void) {
    nb_model *m = nb_sequential(NB_SHAPE(28, 28));
    nb_model_add(m, nb_flatten_layer());
    nb_model_add(m, nb_dense(100, "relu"));
    nb_model_add(m, nb_dense(10, "softmax"));
    ck_assert_int_eq(nb_model_compile(m, "sparse_categorical_crossentropy",
                                      nb_optimizer_from_name("adam"), NULL, 0),
                     NB_OK);
    return m;
}

/* the course CNN: conv, pool, conv, pool, dense, with dropout and relu */
static nb_model *cnn(void) {
    nb_model *m = nb_sequential(NB_SHAPE(1, 28, 28));
    nb_model_add(m, nb_conv2d_layer(8, 3, "relu"));
    nb_model_add(m, nb_max_pool2d_layer(2, 0));
    nb_model_add(m, nb_conv2d_layer(16, 3, "relu"));
    nb_model_add(m, nb_max_pool2d_layer(2, 0));
    nb_model_add(m, nb_flatten_layer());
    nb_model_add(m, nb_dropout_layer(0.25f));
    nb_model_add(m, nb_dense(10, "softmax"));
    ck_assert_int_eq(nb_model_compile(m, "sparse_categorical_crossentropy",
                                      nb_optimizer_from_name("adam"), NULL, 0),
                     NB_OK);
    return m;
}

/* a CNN with batch normalization (running statistics change at every step) */
static nb_model *cnn_bn(void) {
    nb_model *m = nb_sequential(NB_SHAPE(1, 28, 28));
    nb_model_add(m, nb_conv2d_layer(8, 3, "linear"));
    nb_model_add(m, nb_batch_norm_layer(0, 0));
    nb_model_add(m, nb_activation_layer("relu"));
    nb_model_add(m, nb_avg_pool2d_layer(2, 0));
    nb_model_add(m, nb_flatten_layer());
    nb_model_add(m, nb_dense(10, "softmax"));
    ck_assert_int_eq(nb_model_compile(m, "sparse_categorical_crossentropy",
                                      nb_optimizer_from_name("sgd"), NULL, 0),
                     NB_OK);
    return m;
}

static nb_status step(void *ctx, nb_tensor *const *in, int n, nb_tensor **out, int *n_out) {
    (void)n;
    *n_out = 2;
    return nb_model_train_on_batch(ctx, in[0], in[1], &out[0], &out[1]);
}

/* rows [i * bs, (i + 1) * bs) as a contiguous batch, shaped for the model */
static nb_tensor *batch_of(nb_tensor *t, int64_t at, int64_t bs, bool images) {
    nb_tensor *b = nb_clone(nb_slice(t, 0, at, at + bs, 1));
    return images ? nb_reshape(b, (int64_t[]){bs, 1, 28, 28}, 4) : b;
}

typedef struct {
    double max_diff;
    double first_loss, last_loss;
} run_result;

/* Train the model made by make for STEPS steps from seed 7, eagerly (opts
 * NULL) or as a graph; returns the parameters' distance to ref (if given) and
 * copies them into keep (if given). */
static run_result train(nb_model *(*make)(void), bool images, const nb_graph_opts *opts,
                        const data *d, float *keep, const float *ref, int64_t last_batch,
                        nb_graph_stats *stats) {
    nb_manual_seed(7);
    nb_model *m = make();
    run_result r = {0};
    nb_graph *g = NULL;
    int64_t at = 0;
    for (int s = 0; s < STEPS; s++) {
        int64_t bs = s == STEPS - 1 && last_batch ? last_batch : BATCH;
        nb_scope_begin();
        nb_tensor *in[2] = {batch_of(d->x, at, bs, images), batch_of(d->y, at, bs, false)};
        nb_tensor *out[2];
        at += bs;
        if (!opts) {
            ck_assert_msg(step(m, in, 2, out, &(int){0}) == NB_OK, "%s", nb_error());
        } else if (!g) {
            g = nb_trace_ex(step, m, in, 2, opts);
            ck_assert_msg(g != NULL, "%s", nb_error());
            ck_assert_int_eq(nb_graph_outputs(g, out), 2);
        } else {
            ck_assert_msg(nb_graph_run(g, in, 2, out) == NB_OK, "%s", nb_error());
        }
        double loss = nb_item(out[0]);
        if (s == 0) r.first_loss = loss;
        r.last_loss = loss;
        nb_scope_end();
    }
    if (g && stats) ck_assert_int_eq(nb_graph_get_stats(g, stats), NB_OK);
    nb_graph_free(g);
    nb_tensor **p;
    int np = nb_model_parameters(m, &p);
    int64_t k = 0;
    for (int i = 0; i < np; i++) {
        const float *v = nb_data(p[i]);
        for (int64_t j = 0; j < nb_numel(p[i]); j++, k++) {
            if (ref) r.max_diff = fmax(r.max_diff, fabs((double)v[j] - ref[k]));
            if (keep) keep[k] = v[j];
        }
    }
    nb_model_free(m);
    return r;
}

static float *params_buffer(nb_model *(*make)(void)) {
    nb_model *m = make();
    float *b = malloc((size_t)nb_model_param_count(m) * sizeof *b);
    nb_model_free(m);
    return b;
}

/* Eager, then the graph with all passes, then with each pass off. */
static void eager_vs_graph(nb_model *(*make)(void), bool images, double tol, bool bitwise_unfused) {
    data d = first_rows(STEPS * BATCH);
    float *eager = params_buffer(make);
    run_result e = train(make, images, NULL, &d, eager, NULL, 0, NULL);
    ck_assert_msg(e.last_loss < e.first_loss, "eager loss %g -> %g", e.first_loss, e.last_loss);
    const nb_graph_opts variants[] = {
        {.quiet = true},
        {.quiet = true, .no_dce = true},
        {.quiet = true, .no_fusion = true},
        {.quiet = true, .no_memory_plan = true},
        {.quiet = true, .no_inplace = true},
        {.quiet = true,
         .no_dce = true,
         .no_fusion = true,
         .no_memory_plan = true,
         .no_inplace = true},
    };
    const char *names[] = {"all passes",     "no dce",      "no fusion",
                           "no memory plan", "no in-place", "no passes"};
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        nb_graph_stats st;
        run_result r = train(make, images, &variants[i], &d, NULL, eager, 0, &st);
        ck_assert_msg(r.max_diff <= tol, "%s: parameters differ from eager by %g", names[i],
                      r.max_diff);
        if (bitwise_unfused && variants[i].no_fusion)
            ck_assert_msg(r.max_diff == 0.0, "%s: not bitwise equal (%g)", names[i], r.max_diff);
        NB_ASSERT_CLOSE(r.last_loss, e.last_loss, 1e-5);
    }
    free(eager);
}

START_TEST(test_mlp_50_steps_graph_equals_eager) {
    eager_vs_graph(mlp, false, 1e-5, true);
}
END_TEST

START_TEST(test_cnn_50_steps_graph_equals_eager) {
    eager_vs_graph(cnn, true, 1e-5, true);
}
END_TEST

static void no_allocations(nb_model *(*make)(void), bool images) {
    data d = first_rows(4 * BATCH);
    nb_model *m = make();
    nb_tensor *in[2] = {batch_of(d.x, 0, BATCH, images), batch_of(d.y, 0, BATCH, false)};
    nb_graph *g = nb_trace_ex(step, m, in, 2, &(nb_graph_opts){.quiet = true});
    ck_assert_msg(g != NULL, "%s", nb_error());
    ck_assert_int_eq(nb_graph_run(g, in, 2, NULL), NB_OK); /* the pools fill once */
    uint64_t before = nb_alloc_count();
    for (int i = 1; i < 4; i++) {
        nb_tensor *b[2] = {batch_of(d.x, i * BATCH, BATCH, images),
                           batch_of(d.y, i * BATCH, BATCH, false)};
        before = nb_alloc_count(); /* the batch copies above may allocate; the run may not */
        nb_tensor *out[2];
        ck_assert_int_eq(nb_graph_run(g, b, 2, out), NB_OK);
        ck_assert_msg(nb_alloc_count() == before, "run %d allocated %llu times", i,
                      (unsigned long long)(nb_alloc_count() - before));
        ck_assert(isfinite(nb_item(out[0])));
    }
    nb_graph_free(g);
    nb_model_free(m);
}

START_TEST(test_batch_norm_cnn_50_steps_graph_equals_eager) {
    eager_vs_graph(cnn_bn, true, 1e-5, true);
    no_allocations(cnn_bn, true);
}
END_TEST

START_TEST(test_fusion_folds_activations_into_their_producer) {
    data d = first_rows(STEPS * BATCH);
    nb_graph_stats fused, plain;
    train(cnn, true, &(nb_graph_opts){.quiet = true}, &d, NULL, NULL, 0, &fused);
    train(cnn, true, &(nb_graph_opts){.quiet = true, .no_fusion = true}, &d, NULL, NULL, 0, &plain);
    ck_assert_int_eq(fused.fused, 2); /* each conv2d with its relu */
    ck_assert_int_eq(plain.fused, 0);
    ck_assert_int_eq(fused.ops, plain.ops - fused.fused);
}
END_TEST

START_TEST(test_memory_plan_shares_buffers) {
    data d = first_rows(STEPS * BATCH);
    nb_graph_stats planned, own;
    train(cnn, true, &(nb_graph_opts){.quiet = true}, &d, NULL, NULL, 0, &planned);
    train(cnn, true, &(nb_graph_opts){.quiet = true, .no_memory_plan = true}, &d, NULL, NULL, 0,
          &own);
    ck_assert_int_eq(own.arena_bytes, own.tensor_bytes);
    ck_assert_msg(planned.arena_bytes < planned.tensor_bytes,
                  "arena %lld bytes for %lld bytes of tensors", (long long)planned.arena_bytes,
                  (long long)planned.tensor_bytes);
    ck_assert_int_gt(planned.inplace, 0);
}
END_TEST

/* An op nothing reads is dropped; with DCE off it runs. */
static nb_status step_with_dead_op(void *ctx, nb_tensor *const *in, int n, nb_tensor **out,
                                   int *n_out) {
    nb_tensor *unused = nb_exp(nb_mul(in[0], in[0]));
    (void)unused;
    return step(ctx, in, n, out, n_out);
}

START_TEST(test_dead_code_is_removed) {
    data d = first_rows(BATCH);
    nb_graph_stats with, without;
    for (int pass = 0; pass < 2; pass++) {
        nb_model *m = mlp();
        nb_tensor *in[2] = {d.x, d.y};
        nb_graph *g = nb_trace_ex(step_with_dead_op, m, in, 2,
                                  &(nb_graph_opts){.quiet = true, .no_dce = pass == 1});
        ck_assert_msg(g != NULL, "%s", nb_error());
        nb_graph_get_stats(g, pass == 0 ? &with : &without);
        nb_graph_free(g);
        nb_model_free(m);
    }
    ck_assert_int_eq(with.removed, 2);
    ck_assert_int_eq(without.removed, 0);
    ck_assert_int_eq(with.ops, without.ops - 2);
}
END_TEST

/* 49 full batches and a last one of 8: traced twice, kept, same numbers as eager */
START_TEST(test_smaller_last_batch_is_traced_once_and_kept) {
    data d = first_rows(STEPS * BATCH);
    float *eager = params_buffer(mlp);
    train(mlp, false, NULL, &d, eager, NULL, 8, NULL);
    nb_graph_stats st;
    run_result r = train(mlp, false, &(nb_graph_opts){.quiet = true}, &d, NULL, eager, 8, &st);
    ck_assert_int_eq(st.shapes, 2);
    ck_assert_msg(r.max_diff <= 1e-5, "differs from eager by %g", r.max_diff);
    free(eager);

    nb_model *m = mlp();
    nb_tensor *big[2] = {batch_of(d.x, 0, 32, false), batch_of(d.y, 0, 32, false)};
    nb_tensor *small[2] = {batch_of(d.x, 0, 8, false), batch_of(d.y, 0, 8, false)};
    nb_graph *g = nb_trace_ex(step, m, big, 2, &(nb_graph_opts){.quiet = true});
    ck_assert_ptr_nonnull(g);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(nb_graph_run(g, small, 2, NULL), NB_OK);
        ck_assert_int_eq(nb_graph_run(g, big, 2, NULL), NB_OK);
    }
    nb_graph_get_stats(g, &st);
    ck_assert_int_eq(st.shapes, 2);
    /* the cached small-batch graph replays without allocating */
    uint64_t before = nb_alloc_count();
    ck_assert_int_eq(nb_graph_run(g, small, 2, NULL), NB_OK);
    ck_assert_int_eq(nb_alloc_count(), before);
    nb_graph_free(g);
    nb_model_free(m);
}
END_TEST

START_TEST(test_replayed_mlp_step_allocates_nothing) {
    no_allocations(mlp, false);
}
END_TEST

START_TEST(test_replayed_cnn_step_allocates_nothing) {
    no_allocations(cnn, true);
}
END_TEST

START_TEST(test_print_and_dot_show_fused_groups) {
    data d = first_rows(BATCH);
    nb_model *m = mlp();
    nb_tensor *in[2] = {d.x, d.y};
    nb_graph *g = nb_trace_ex(step, m, in, 2, &(nb_graph_opts){.quiet = true});
    ck_assert_ptr_nonnull(g);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_int_eq(nb_graph_print(g, f), NB_OK);
    fclose(f);
    ck_assert_msg(strstr(buf, "linear+relu") != NULL, "%s", buf);
    ck_assert_msg(strstr(buf, "arena:") != NULL, "%s", buf);
    ck_assert_msg(strstr(buf, "optimizer_step") != NULL, "%s", buf);
    free(buf);
    char *dot = nb_graph_draw(g);
    ck_assert_ptr_nonnull(dot);
    ck_assert(strstr(dot, "cluster_fused") != NULL);
    ck_assert(strstr(dot, "relu (post-op)") != NULL);
    free(dot);
    char path[] = "/tmp/nabla_graph_XXXXXX.svg";
    int fd = mkstemps(path, 4);
    close(fd);
    ck_assert_msg(nb_graph_draw_save(g, path) == NB_OK, "%s", nb_error());
    f = fopen(path, "r");
    char head[256] = {0};
    ck_assert_uint_gt(fread(head, 1, sizeof head - 1, f), 0);
    fclose(f);
    ck_assert(strstr(head, "<svg") != NULL || strstr(head, "<?xml") != NULL);
    unlink(path);
    nb_graph_free(g);
    nb_model_free(m);
}
END_TEST

static nb_status failing(void *ctx, nb_tensor *const *in, int n, nb_tensor **out, int *n_out) {
    (void)ctx, (void)n, (void)n_out;
    out[0] = nb_matmul(in[0], in[0]); /* [2, 3] @ [2, 3]: a shape error */
    return out[0] ? NB_OK : nb_error_code();
}

START_TEST(test_errors_are_reported) {
    nb_tensor *x = nb_zeros(NB_SHAPE(2, 3));
    ck_assert_ptr_null(nb_trace(failing, NULL, &x, 1));
    NB_ASSERT_ERROR_HAS("nb_matmul: inner dimensions differ");
    ck_assert_ptr_null(nb_trace(NULL, NULL, &x, 1));
    NB_ASSERT_ERROR_HAS("nb_trace: fn is NULL");
    ck_assert_ptr_null(nb_trace(failing, NULL, (nb_tensor *[]){NULL}, 1));
    NB_ASSERT_ERROR_HAS("nb_trace: input 0 is NULL");
    ck_assert_int_ne(nb_graph_run(NULL, &x, 1, NULL), NB_OK);
    NB_ASSERT_ERROR_HAS("nb_graph_run: graph is NULL");
    ck_assert_int_ne(nb_graph_print(NULL, stdout), NB_OK);
    NB_ASSERT_ERROR_HAS("nb_graph_print");
}
END_TEST

/* fit runs on compiled steps by default; eager gives the same History */
START_TEST(test_fit_on_graphs_equals_eager_fit) {
    data d = first_rows(1000); /* batches of 64: the last one of each epoch has 40 rows */
    double loss[2][3], acc[2][3], weight[2];
    for (int eager = 0; eager < 2; eager++) {
        nb_manual_seed(3);
        nb_model *m = nb_sequential(NB_SHAPE(28, 28));
        nb_model_add(m, nb_flatten_layer());
        nb_model_add(m, nb_dense(64, "relu"));
        nb_model_add(m, nb_dropout_layer(0.2f));
        nb_model_add(m, nb_dense(10, "softmax"));
        ck_assert_int_eq(nb_model_compile(m, "sparse_categorical_crossentropy",
                                          nb_optimizer_from_name("rmsprop"),
                                          (const char *[]){"accuracy"}, 1),
                         NB_OK);
        nb_history *h = nb_model_fit(
            m, d.x, d.y,
            &(nb_fit_opts){.epochs = 3, .batch_size = 64, .verbose = NB_SILENT, .eager = eager});
        ck_assert_msg(h != NULL, "%s", nb_error());
        for (int e = 0; e < 3; e++) {
            loss[eager][e] = nb_history_get(h, "loss", e);
            acc[eager][e] = nb_history_get(h, "accuracy", e);
        }
        nb_tensor **p;
        nb_model_parameters(m, &p);
        weight[eager] = nb_item(nb_sum(nb_abs(p[0]), NULL, 0, false));
        nb_history_free(h);
        nb_model_free(m);
    }
    for (int e = 0; e < 3; e++) {
        NB_ASSERT_CLOSE(loss[0][e], loss[1][e], 1e-5);
        NB_ASSERT_CLOSE(acc[0][e], acc[1][e], 1e-9);
    }
    ck_assert(loss[0][2] < loss[0][0]);
    NB_ASSERT_CLOSE(weight[0], weight[1], 1e-5);
}
END_TEST

/* inputs may be views at any offset; views the step makes of them follow */
static nb_status flat_sum(void *ctx, nb_tensor *const *in, int n, nb_tensor **out, int *n_out) {
    (void)ctx, (void)n;
    nb_tensor *flat = nb_reshape(in[0], NB_SHAPE(-1));
    out[0] = nb_sum_all(nb_mul(flat, nb_slice(flat, 0, 0, 6, 1)));
    *n_out = 1;
    return out[0] ? NB_OK : nb_error_code();
}

/* Inside a trace, neither a second trace nor a replay can run: the outer
 * trace would record a replay's effects without the ops around them. */
static nb_status nested(void *ctx, nb_tensor *const *in, int n, nb_tensor **out, int *n_out) {
    (void)n;
    *n_out = 1;
    out[0] = in[0];
    return ctx ? nb_graph_run(ctx, in, 1, NULL)
               : (nb_trace(flat_sum, NULL, in, 1) ? NB_OK : nb_error_code());
}

START_TEST(test_a_trace_cannot_run_a_graph_or_another_trace) {
    nb_tensor *x = nb_ones(NB_SHAPE(2, 3));
    nb_graph *inner = nb_trace(flat_sum, NULL, &x, 1);
    ck_assert_ptr_nonnull(inner);
    ck_assert_ptr_null(nb_trace(nested, inner, &x, 1));
    NB_ASSERT_ERROR_HAS("nb_graph_run: called inside a trace");
    ck_assert_ptr_null(nb_trace(nested, NULL, &x, 1));
    NB_ASSERT_ERROR_HAS("nb_trace: a trace is already running on this thread");
    ck_assert_int_eq(nb_graph_run(inner, &x, 1, NULL), NB_OK); /* still usable */
    nb_graph_free(inner);
}
END_TEST

START_TEST(test_inputs_are_views_at_other_offsets) {
    nb_tensor *big = nb_arange(0, 60, 1);
    big = nb_reshape(big, NB_SHAPE(20, 3));
    nb_tensor *in = nb_slice(big, 0, 4, 6, 1), *out[1];
    nb_graph *g = nb_trace(flat_sum, NULL, &in, 1);
    ck_assert_msg(g != NULL, "%s", nb_error());
    for (int at = 0; at < 18; at += 3) {
        nb_tensor *x = nb_slice(big, 0, at, at + 2, 1);
        ck_assert_int_eq(nb_graph_run(g, &x, 1, out), NB_OK);
        nb_tensor *want[1];
        flat_sum(NULL, &x, 1, want, &(int){0});
        NB_ASSERT_CLOSE(nb_item(out[0]), nb_item(want[0]), 0);
    }
    nb_graph_free(g);
}
END_TEST

/* Every activation after linear and conv2d gives eager's numbers, the loss and
 * the gradients (read after each run) within 1e-5, in a training step and in a
 * forward pass. In training only activations whose backward reads their output
 * are fused (the others need the pre-activation); a forward pass fuses all. */
typedef struct {
    int act;
    bool conv, train;
    nb_tensor *w, *b;
} act_case;

static nb_tensor *activation(int i, nb_tensor *z) {
    switch (i) {
    case 0:
        return nb_relu(z);
    case 1:
        return nb_leaky_relu(z, 0.1f);
    case 2:
        return nb_leaky_relu(z, -0.5f);
    case 3:
        return nb_sigmoid(z);
    case 4:
        return nb_tanh(z);
    case 5:
        return nb_elu(z, 1.0f);
    case 6:
        return nb_gelu(z);
    case 7:
        return nb_softplus(z);
    case 8:
        return nb_exp(z);
    case 9:
        return nb_square(z);
    case 10:
        return nb_abs(z);
    case 11:
        return nb_clip(z, -0.2f, 0.3f);
    default:
        return nb_affine(z, 2.0f, 0.5f);
    }
}
#define N_ACTIVATIONS 13

static nb_status act_step(void *ctx, nb_tensor *const *in, int n, nb_tensor **out, int *n_out) {
    (void)n;
    act_case *c = ctx;
    nb_zero_grad(c->w);
    nb_zero_grad(c->b);
    nb_tensor *z = c->conv ? nb_conv2d(in[0], c->w, c->b, NULL) : nb_linear(in[0], c->w, c->b);
    out[0] = nb_sum_all(nb_mul(activation(c->act, z), in[1]));
    *n_out = 1;
    if (!out[0]) return nb_error_code();
    return c->train ? nb_backward(out[0]) : NB_OK;
}

START_TEST(test_every_fusable_activation_matches_eager) {
    static const bool reads_output[N_ACTIVATIONS] = {1, 1, 0, 1, 1, 1, 0, 0, 1, 0, 0, 0, 0};
    /* softplus runs an exact loop, not oneDNN's soft_relu, so it is not a post-op */
    static const bool fusable[N_ACTIVATIONS] = {1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1};
    for (int mode = 0; mode < 4; mode++) {
        bool conv = mode & 1, train = mode & 2;
        if (!train) nb_no_grad_begin();
        for (int a = 0; a < N_ACTIVATIONS; a++) {
            nb_manual_seed(11);
            act_case c = {a, conv, train, NULL, NULL};
            c.w = nb_set_requires_grad(
                conv ? nb_randn(NB_SHAPE(4, 2, 3, 3)) : nb_randn(NB_SHAPE(5, 4)), true);
            c.b = nb_set_requires_grad(nb_randn(NB_SHAPE(4)), true);
            nb_tensor *x = conv ? nb_randn(NB_SHAPE(3, 2, 6, 6)) : nb_randn(NB_SHAPE(3, 5));
            nb_tensor *t = conv ? nb_randn(NB_SHAPE(3, 4, 4, 4)) : nb_randn(NB_SHAPE(3, 4));
            nb_tensor *in[2] = {x, t}, *out[1];
            ck_assert_int_eq(act_step(&c, in, 2, out, &(int){0}), NB_OK);
            double loss = nb_item(out[0]);
            nb_tensor *gw = train ? nb_clone(nb_grad(c.w)) : NULL;
            nb_tensor *gb = train ? nb_clone(nb_grad(c.b)) : NULL;
            nb_graph *g = nb_trace(act_step, &c, in, 2);
            ck_assert_msg(g != NULL, "activation %d, mode %d: %s", a, mode, nb_error());
            nb_graph_stats st;
            nb_graph_get_stats(g, &st);
            ck_assert_msg(st.fused == (fusable[a] && (!train || reads_output[a])),
                          "activation %d, mode %d: %d fused", a, mode, st.fused);
            ck_assert_int_eq(nb_graph_run(g, in, 2, out), NB_OK);
            NB_ASSERT_CLOSE(nb_item(out[0]), loss, 1e-5);
            for (int64_t i = 0; train && i < nb_numel(gw); i++)
                NB_ASSERT_CLOSE(nb_get_flat(nb_grad(c.w), i), nb_get_flat(gw, i), 1e-5);
            for (int64_t i = 0; train && i < nb_numel(gb); i++)
                NB_ASSERT_CLOSE(nb_get_flat(nb_grad(c.b), i), nb_get_flat(gb, i), 1e-5);
            nb_graph_free(g);
        }
        if (!train) nb_no_grad_end();
    }
}
END_TEST

/* A linear with no input columns is its bias; fused, the activation still
 * applies (a graph used to refuse it). */
START_TEST(test_fused_linear_of_an_empty_input_is_its_activated_bias) {
    nb_no_grad_begin();
    act_case c = {0, false, false, nb_zeros(NB_SHAPE(0, 4)),
                  nb_from_array((float[]){-1, 2, -3, 4}, NB_SHAPE(4))};
    nb_tensor *in[2] = {nb_zeros(NB_SHAPE(3, 0)), nb_ones(NB_SHAPE(3, 4))}, *out[1];
    nb_graph *g = nb_trace(act_step, &c, in, 2);
    ck_assert_msg(g != NULL, "%s", nb_error());
    nb_graph_stats st;
    nb_graph_get_stats(g, &st);
    ck_assert_int_eq(st.fused, 1);
    ck_assert_int_eq(nb_graph_run(g, in, 2, out), NB_OK);
    NB_ASSERT_CLOSE(nb_item(out[0]), 3 * (2 + 4), 0); /* relu(b) summed over 3 rows */
    nb_graph_free(g);
    nb_no_grad_end();
}
END_TEST

/* A storage freed during the trace and handed out again to a tensor made
 * outside ops is that new tensor's, not a view of the dead one's value: the
 * constant replays as itself. */
static nb_status reuse_step(void *ctx, nb_tensor *const *in, int n, nb_tensor **out, int *n_out) {
    (void)n;
    nb_scope_begin();
    nb_tensor *dead = nb_relu(in[0]);
    const nb_storage *was = dead ? dead->storage : NULL;
    nb_scope_end(); /* dead's storage goes back to the pool */
    nb_tensor *c = nb_from_array((float[]){10, 20, 30, 40}, NB_SHAPE(2, 2));
    *(bool *)ctx = c && c->storage == was;
    out[0] = nb_add(in[0], c);
    *n_out = 1;
    return out[0] ? NB_OK : nb_error_code();
}

START_TEST(test_a_storage_reused_during_the_trace_is_a_new_tensor) {
    bool reused = false;
    nb_tensor *in[1] = {nb_from_array((float[]){1, 2, 3, 4}, NB_SHAPE(2, 2))}, *out[1];
    nb_graph *g = nb_trace(reuse_step, &reused, in, 1);
    ck_assert_msg(g != NULL, "%s", nb_error());
    ck_assert_msg(reused, "the pool did not hand the storage out again: the test shows nothing");
    in[0] = nb_from_array((float[]){-1, -2, -3, -4}, NB_SHAPE(2, 2));
    ck_assert_int_eq(nb_graph_run(g, in, 1, out), NB_OK);
    NB_ASSERT_TENSOR(out[0], ((float[]){9, 18, 27, 36}), 4, 0);
    nb_graph_free(g);
}
END_TEST

int main(void) {
    Suite *s = suite_create("graph");
    TCase *tc = nb_tcase("graph");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_mlp_50_steps_graph_equals_eager);
    tcase_add_test(tc, test_cnn_50_steps_graph_equals_eager);
    tcase_add_test(tc, test_batch_norm_cnn_50_steps_graph_equals_eager);
    tcase_add_test(tc, test_fusion_folds_activations_into_their_producer);
    tcase_add_test(tc, test_memory_plan_shares_buffers);
    tcase_add_test(tc, test_dead_code_is_removed);
    tcase_add_test(tc, test_smaller_last_batch_is_traced_once_and_kept);
    tcase_add_test(tc, test_replayed_mlp_step_allocates_nothing);
    tcase_add_test(tc, test_replayed_cnn_step_allocates_nothing);
    tcase_add_test(tc, test_print_and_dot_show_fused_groups);
    tcase_add_test(tc, test_errors_are_reported);
    tcase_add_test(tc, test_fit_on_graphs_equals_eager_fit);
    tcase_add_test(tc, test_inputs_are_views_at_other_offsets);
    tcase_add_test(tc, test_every_fusable_activation_matches_eager);
    tcase_add_test(tc, test_fused_linear_of_an_empty_input_is_its_activated_bias);
    tcase_add_test(tc, test_a_trace_cannot_run_a_graph_or_another_trace);
    tcase_add_test(tc, test_a_storage_reused_during_the_trace_is_a_new_tensor);
    suite_add_tcase(s, tc);
    return nb_test_run(s);
}
