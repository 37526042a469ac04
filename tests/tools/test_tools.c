/* tools/: the model-spec parser, training-curve SVGs, and the nabla command's
 * exit codes and outputs. */
#include "nb_test.h"

#include "tools/cli/model_spec.h"
#include "nabla/plot.h"

#include <expat.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    const char *spec;
    int column;
    const char *message;
} spec_error;

START_TEST(test_model_spec_errors_point_at_the_column) {
    static const spec_error cases[] = {
        {"flatten, dense 100 relu, dropout 1.3, dense 10 softmax", 33, "'1.3' is not a rate"},
        {"flatten, dense, dense 10", 9, "expected a number after 'dense'"},
        {"flatten, dense x10", 15, "'x10' is not a size"},
        {"flatten, dense 10 purple", 18, "'purple' is not an activation"},
        {"flatten,, dense 10", 8, "expected a layer"},
        {"flatten, lstm 10", 9, "'lstm': expected dense N [act]"},
        {"conv 8 3 relu tiny", 14, "'tiny' is neither an activation nor same/valid"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int col = -2;
        ck_assert_ptr_null(nb_model_from_spec(cases[i].spec, NB_SHAPE(1, 12, 12), &col));
        ck_assert_msg(col == cases[i].column, "'%s': column %d, expected %d", cases[i].spec, col,
                      cases[i].column);
        NB_ASSERT_ERROR_HAS(cases[i].message);
    }
    /* a layer that does not fit the previous one: named by nb_model_add */
    int col = -2;
    ck_assert_ptr_null(nb_model_from_spec("dense 10, conv 4 3", NB_SHAPE(8), &col));
    ck_assert_int_eq(col, 10);
}
END_TEST

START_TEST(test_model_spec_builds_the_course_models) {
    nb_model *m = nb_model_from_spec("flatten, dense 100 relu, dropout 0.3, dense 10 softmax",
                                     NB_SHAPE(28, 28), NULL);
    ck_assert_msg(m != NULL, "%s", nb_error());
    ck_assert_int_eq(nb_model_param_count(m), 79510);
    nb_model_free(m);
    m = nb_model_from_spec("conv 32 3 relu, maxpool 2, conv 64 3 relu, maxpool 2, flatten, "
                           "dense 100 relu, dropout 0.3, dense 10 softmax",
                           NB_SHAPE(1, 28, 28), NULL);
    ck_assert_msg(m != NULL, "%s", nb_error());
    /* 320 + 18496 + 1600 * 100 + 100 + 1010 */
    ck_assert_int_eq(nb_model_param_count(m), 320 + 18496 + 160100 + 1010);
    nb_model_free(m);
    /* the words for GlobalAveragePooling2D, GlobalMaxPooling2D, LayerNormalization, GaussianNoise
     */
    m = nb_model_from_spec("conv 4 3 relu, gaussiannoise 0.1, globalmaxpool, layernorm, dense 2",
                           NB_SHAPE(1, 6, 6), NULL);
    ck_assert_msg(m != NULL, "%s", nb_error());
    ck_assert_int_eq(nb_model_param_count(m), 40 + 8 + 10); /* conv, gamma and beta, dense */
    ck_assert_str_eq(nb_layer_name(nb_model_layer(m, 1)), "gaussian_noise");
    ck_assert_str_eq(nb_layer_name(nb_model_layer(m, 3)), "layer_normalization");
    nb_model_free(m);
    m = nb_model_from_spec("conv 4 3, globalavgpool, dense 2", NB_SHAPE(1, 6, 6), NULL);
    ck_assert_msg(m != NULL, "%s", nb_error());
    ck_assert_str_eq(nb_layer_name(nb_model_layer(m, 1)), "global_average_pooling2d");
    nb_model_free(m);
    int col = -2;
    ck_assert_ptr_null(nb_model_from_spec("conv 4 3, gaussiannoise -1", NB_SHAPE(1, 6, 6), &col));
    ck_assert_int_eq(col, 24);
    NB_ASSERT_ERROR_HAS("'-1' is not a deviation >= 0");
    int64_t shape[8];
    int nd;
    ck_assert(nb_parse_shape("1x28x28", shape, &nd) && nd == 3 && shape[2] == 28);
    ck_assert(!nb_parse_shape("28by28", shape, &nd));
    NB_ASSERT_ERROR_HAS("input shape '28by28': expected sizes joined by x");
}
END_TEST

START_TEST(test_input_shape_with_a_dangling_x_or_a_sign_is_refused) {
    int64_t shape[8];
    int nd = 0;
    static const char *const bad[] = {"28x", "x28", "28xx28", "-5", "+5", " 5", "28x-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(!nb_parse_shape(bad[i], shape, &nd), "'%s' was accepted", bad[i]);
        NB_ASSERT_ERROR_HAS("expected sizes joined by x");
    }
    ck_assert(nb_parse_shape("28x28", shape, &nd) && nd == 2 && shape[1] == 28);
}
END_TEST

static bool svg_parses(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    XML_Parser p = XML_ParserCreate(NULL);
    bool ok = XML_Parse(p, buf, (int)n, 1) != XML_STATUS_ERROR && strstr(buf, "<svg");
    XML_ParserFree(p);
    return ok;
}

START_TEST(test_training_curves_are_valid_svg) {
    static const double loss[] = {0.9, 0.5, 0.4}, val[] = {0.8, 0.6, NAN};
    nb_series s[] = {{"training", loss, 3}, {"validation <val>", val, 3}};
    char path[] = "/tmp/nabla_plot_XXXXXX";
    close(mkstemp(path));
    ck_assert_int_eq(nb_plot_svg(path, "loss & friends", "loss", s, 2), NB_OK);
    ck_assert(svg_parses(path));
    ck_assert_int_ne(nb_plot_svg("/nonexistent/dir/p.svg", "t", "loss", s, 2), NB_OK);
    NB_ASSERT_ERROR_HAS("nb_plot_svg: cannot write /nonexistent/dir/p.svg: No such");
    remove(path);
}
END_TEST

/* runs the nabla command; returns its exit code and its output in out */
static int run(const char *args, char *out, size_t size) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", NB_NABLA_EXE, args);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(test_nabla_command_exit_codes_and_outputs) {
    static char out[1 << 16];
    ck_assert_int_eq(run("", out, sizeof out), 2);
    ck_assert_int_eq(run("--help", out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "summary MODEL"));
    ck_assert_int_eq(run("frobnicate", out, sizeof out), 2);
    ck_assert_int_eq(run("grad --help", out, sizeof out), 0);
    ck_assert_int_eq(run("grad \"sigmoid(w*x+\"", out, sizeof out), 2);
    ck_assert_ptr_nonnull(strstr(out, "error: column 12: expected an operand"));
    ck_assert_int_eq(run("grad \"log(x)\" x=-1", out, sizeof out), 2);
    ck_assert_int_eq(run("summary \"flatten, dense 2\" --input 3", out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "Total params: 8"));
    ck_assert_int_eq(run("summary \"dense 2 blue\" --input 3", out, sizeof out), 2);
    ck_assert_int_eq(run("draw \"dense 2 relu\" --input 3", out, sizeof out), 2); /* no -o */
    char dir[] = "/tmp/nabla_cli_XXXXXX", args[512], path[600];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(args, sizeof args,
             "draw \"dense 4 relu, dense 2 softmax\" --input 3 --backward -o %s/g.svg", dir);
    ck_assert_int_eq(run(args, out, sizeof out), 0);
    snprintf(path, sizeof path, "%s/g.svg", dir);
    ck_assert(svg_parses(path));
    remove(path);
    /* a whole compiled training step: the relu fused, gradients and the update drawn */
    snprintf(args, sizeof args,
             "draw \"conv 4 3 relu, maxpool 2, flatten, dense 2 softmax\" --input 1x8x8 --step -o "
             "%s/s.svg",
             dir);
    ck_assert_msg(run(args, out, sizeof out) == 0, "%s", out);
    snprintf(path, sizeof path, "%s/s.svg", dir);
    ck_assert(svg_parses(path));
    remove(path);
    snprintf(args, sizeof args, "draw \"dense 4 tanh, dense 1\" --input 3 --step -o %s/s.dot", dir);
    ck_assert_msg(run(args, out, sizeof out) == 0, "%s", out);
    snprintf(path, sizeof path, "%s/s.dot", dir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    fclose(f);
    ck_assert_ptr_nonnull(strstr(out, "tanh (post-op)"));
    ck_assert_ptr_nonnull(strstr(out, "label=\"update\""));
    remove(path);
    /* train on the embedded iris set, then evaluate the written file */
    snprintf(args, sizeof args,
             "train --data iris --model \"dense 16 relu, dense 3 softmax\" --epochs 100 "
             "--batch 8 --out %s",
             dir);
    ck_assert_msg(run(args, out, sizeof out) == 0, "%s", out);
    static const char *const files[] = {"model.safetensors", "history.csv", "curves.svg",
                                        "graph_forward.svg", "graph_backward.svg"};
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        ck_assert_msg(access(path, F_OK) == 0, "%s was not written", path);
        if (strstr(files[i], ".svg")) ck_assert_msg(svg_parses(path), "%s", path);
    }
    snprintf(args, sizeof args, "eval %s/model.safetensors --data iris", dir);
    ck_assert_msg(run(args, out, sizeof out) == 0, "%s", out);
    double acc = 0;
    const char *at = strstr(out, "accuracy ");
    ck_assert_ptr_nonnull(at);
    sscanf(at, "accuracy %lf", &acc);
    ck_assert_msg(acc > 0.85, "iris accuracy %g after nabla train", acc);
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        remove(path);
    }
    rmdir(dir);
}
END_TEST

/* the loss on the test part eval prints: "test (30 rows of iris): loss 0.1234 - ..." */
static double eval_loss(const char *out) {
    const char *at = strstr(out, "test (30 rows of iris): loss ");
    ck_assert_msg(at != NULL, "no test line in: %s", out);
    return atof(at + strlen("test (30 rows of iris): loss "));
}

START_TEST(test_nabla_eval_takes_library_model_files_and_bare_weights_with_a_spec) {
    static char out[1 << 16];
    char dir[] = "/tmp/nabla_eval_XXXXXX", whole[64], bare[64], args[512];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(whole, sizeof whole, "%s/whole.safetensors", dir);
    snprintf(bare, sizeof bare, "%s/bare.safetensors", dir);
    nb_dataset d = {0};
    ck_assert_int_eq(nb_dataset_load("iris", &d), NB_OK);
    nb_model *m = nb_sequential_of(NB_SHAPE(4), (nb_layer *[]){nb_dense(3, "softmax")}, 1);
    ck_assert_int_eq(nb_model_compile(m, "sparse_categorical_crossentropy",
                                      nb_optimizer_from_name("adam"), (const char *[]){"accuracy"},
                                      1),
                     NB_OK);
    nb_fit_opts o = {.epochs = 20, .batch_size = 8, .verbose = NB_SILENT};
    nb_history_free(nb_model_fit(m, d.x, d.y, &o));
    ck_assert_int_eq(nb_model_save(m, whole), NB_OK);
    ck_assert_int_eq(nb_model_save_weights(m, bare), NB_OK);
    nb_model_free(m);
    nb_dataset_free(&d);

    snprintf(args, sizeof args, "eval %s --data iris", whole);
    ck_assert_msg(run(args, out, sizeof out) == 0, "%s", out);
    double loss_whole = eval_loss(out);
    ck_assert_ptr_nonnull(strstr(out, "- accuracy "));
    snprintf(args, sizeof args, "eval %s --data iris", bare);
    ck_assert_int_eq(run(args, out, sizeof out), 1);
    ck_assert_ptr_nonnull(strstr(out, "--model SPEC --input SHAPE"));
    snprintf(args, sizeof args, "eval %s --data iris --model \"dense 3 softmax\" --input 4", bare);
    ck_assert_msg(run(args, out, sizeof out) == 0, "%s", out);
    ck_assert_double_eq(eval_loss(out), loss_whole); /* the same weights, the same test rows */
    remove(whole), remove(bare), rmdir(dir);
}
END_TEST

static Suite *tools_suite(void) {
    Suite *s = suite_create("tools");
    TCase *tc = nb_tcase("tools");
    tcase_add_test(tc, test_model_spec_errors_point_at_the_column);
    tcase_add_test(tc, test_model_spec_builds_the_course_models);
    tcase_add_test(tc, test_training_curves_are_valid_svg);
    tcase_add_test(tc, test_nabla_command_exit_codes_and_outputs);
    tcase_add_test(tc, test_input_shape_with_a_dangling_x_or_a_sign_is_refused);
    tcase_add_test(tc, test_nabla_eval_takes_library_model_files_and_bare_weights_with_a_spec);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return nb_test_run(tools_suite());
}
