/* Graphs as pictures: DOT text of a fixed graph against committed files,
 * rendered SVG that parses as XML, PNG and PDF files, errors. */
#include "nb_test.h"

#include <expat.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* y = sigmoid(x @ w + b) * 2, after backward; values chosen to be exact in float:
 * z = 0.5 - 0.5 + 0 = 0, y = 1, dy/dz = 0.5 */
static nb_tensor *neuron(void) {
    nb_tensor *x = nb_set_name(nb_from_array((float[]){1, 2}, NB_SHAPE(1, 2)), "x");
    nb_tensor *w =
        nb_set_requires_grad(nb_from_array((float[]){0.5f, -0.25f}, NB_SHAPE(2, 1)), true);
    nb_tensor *b = nb_set_requires_grad(nb_scalar(0.0f), true);
    nb_set_name(w, "w");
    nb_set_name(b, "b");
    nb_name_scope_begin("dense"); /* drawn as a box labelled dense */
    nb_tensor *z = nb_add(nb_matmul(x, w), b);
    nb_name_scope_end();
    nb_tensor *y = nb_set_name(nb_mul_scalar(nb_sigmoid(z), 2), "y");
    ck_assert_int_eq(nb_backward(y), NB_OK);
    return y;
}

static char *slurp(const char *path, long *len) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *s = malloc((size_t)n + 1);
    ck_assert_int_eq((long)fread(s, 1, (size_t)n, f), n);
    s[n] = '\0';
    fclose(f);
    if (len) *len = n;
    return s;
}

static void assert_matches_file(const char *got, const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", NB_TEST_DATA, name);
    char *want = slurp(path, NULL);
    ck_assert_msg(!strcmp(got, want), "DOT differs from %s:\n%s", path, got);
    free(want);
}

START_TEST(test_forward_dot_of_a_neuron_matches_the_committed_file) {
    char *dot = nb_draw(neuron(), NULL);
    ck_assert_ptr_nonnull(dot);
    assert_matches_file(dot, "neuron_forward.dot");
    free(dot);
}
END_TEST

START_TEST(test_backward_dot_of_a_neuron_matches_the_committed_file) {
    char *dot = nb_draw(neuron(), &(nb_draw_opts){.backward = true});
    ck_assert_ptr_nonnull(dot);
    assert_matches_file(dot, "neuron_backward.dot");
    free(dot);
}
END_TEST

START_TEST(test_a_tensor_used_twice_gets_a_sum_node) {
    nb_tensor *x = nb_set_requires_grad(nb_scalar(3), true);
    nb_tensor *y = nb_mul(x, nb_exp(x));
    char *dot = nb_draw(y, &(nb_draw_opts){.backward = true});
    ck_assert_ptr_nonnull(strstr(dot, "label=\"+\""));
    ck_assert_ptr_nonnull(strstr(dot, "exp_backward"));
    free(dot);
}
END_TEST

static int xml_errors;
static void count_start(void *ud, const XML_Char *name, const XML_Char **attrs) {
    (void)attrs;
    if (!strcmp(name, "svg")) (*(int *)ud)++;
}

static void assert_svg_parses(const char *path) {
    long n;
    char *s = slurp(path, &n);
    int svg = 0;
    XML_Parser p = XML_ParserCreate(NULL);
    XML_SetUserData(p, &svg);
    XML_SetStartElementHandler(p, count_start);
    if (XML_Parse(p, s, (int)n, 1) == XML_STATUS_ERROR) xml_errors++;
    ck_assert_msg(xml_errors == 0, "%s: XML error at line %lu: %s", path,
                  (unsigned long)XML_GetCurrentLineNumber(p), XML_ErrorString(XML_GetErrorCode(p)));
    ck_assert_int_eq(svg, 1);
    XML_ParserFree(p);
    free(s);
}

START_TEST(test_rendered_files_are_valid) {
    char dir[] = "/tmp/nabla_dot_XXXXXX", path[600];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    nb_tensor *y = neuron();
    static const char *const names[] = {"f.svg", "b.svg", "f.png", "f.pdf", "f.dot"};
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        nb_draw_opts o = {.backward = names[i][0] == 'b', .title = "a neuron"};
        ck_assert_msg(nb_draw_save(y, &o, path) == NB_OK, "%s: %s", path, nb_error());
        long n;
        char *s = slurp(path, &n);
        if (strstr(names[i], ".png")) ck_assert(n > 8 && !memcmp(s, "\x89PNG", 4));
        if (strstr(names[i], ".pdf")) ck_assert(n > 8 && !memcmp(s, "%PDF", 4));
        if (strstr(names[i], ".dot")) ck_assert(!strncmp(s, "digraph nabla", 13));
        free(s);
        if (strstr(names[i], ".svg")) assert_svg_parses(path);
        remove(path);
    }
    rmdir(dir);
}
END_TEST

START_TEST(test_the_same_graph_gives_the_same_text) {
    char *a = nb_draw(neuron(), NULL);
    nb_shutdown();
    char *b = nb_draw(neuron(), NULL);
    ck_assert_str_eq(a, b);
    free(a);
    free(b);
}
END_TEST

START_TEST(test_dot_errors) {
    nb_tensor *y = neuron();
    ck_assert_int_ne(nb_draw_save(y, NULL, "/tmp/graph.gif"), NB_OK);
    NB_ASSERT_ERROR_HAS("nb_draw_save: /tmp/graph.gif: the extension must be .dot, .svg, .png or "
                        ".pdf");
    ck_assert_int_ne(nb_draw_save(y, NULL, "/nonexistent/dir/g.dot"), NB_OK);
    NB_ASSERT_ERROR_HAS("nb_draw_save: cannot write /nonexistent/dir/g.dot: No such");
    ck_assert_int_ne(nb_draw_save(y, NULL, "/nonexistent/dir/g.svg"), NB_OK);
    NB_ASSERT_ERROR_HAS("nb_draw_save");
    nb_clear_error();
    ck_assert_ptr_null(nb_draw(NULL, NULL));
    NB_ASSERT_ERROR_HAS("nb_draw: an input tensor is NULL");
}
END_TEST

/* A training step of the neuron (linear + sigmoid, mse, SGD), traced and compiled:
 * the sigmoid is fused into the linear, gradients reach w and b. */
static nb_status neuron_step(void *opt, nb_tensor *const *in, int n, nb_tensor **out, int *n_out) {
    (void)n;
    nb_tensor *w = nb_optimizer_param(opt, 0), *b = nb_optimizer_param(opt, 1);
    nb_optimizer_zero_grad(opt);
    out[0] = nb_mse_loss(nb_sigmoid(nb_linear(in[0], w, b)), in[1]);
    *n_out = 1;
    nb_status s = out[0] ? nb_backward(out[0]) : nb_error_code();
    return s == NB_OK ? nb_optimizer_step(opt) : s;
}

static nb_graph *neuron_graph(nb_optimizer **opt) {
    nb_tensor *w =
        nb_set_requires_grad(nb_from_array((float[]){0.5f, -0.25f}, NB_SHAPE(2, 1)), true);
    nb_tensor *b = nb_set_requires_grad(nb_zeros(NB_SHAPE(1)), true);
    *opt = nb_sgd(0.1f, 0, false, 0);
    nb_optimizer_add_params(*opt, (nb_tensor *[]){w, b}, 2);
    nb_tensor *in[2] = {nb_from_array((float[]){1, 2, 3, 4}, NB_SHAPE(2, 2)),
                        nb_from_array((float[]){1, 0}, NB_SHAPE(2, 1))};
    nb_graph *g = nb_trace(neuron_step, *opt, in, 2);
    ck_assert_msg(g != NULL, "%s", nb_error());
    return g;
}

START_TEST(test_compiled_step_dot_matches_the_committed_file) {
    nb_optimizer *opt;
    nb_graph *g = neuron_graph(&opt);
    char *dot = nb_graph_draw(g);
    ck_assert_ptr_nonnull(dot);
    ck_assert_ptr_nonnull(strstr(dot, "cluster_fused"));
    ck_assert_ptr_nonnull(strstr(dot, "sigmoid (post-op)"));
    ck_assert_ptr_nonnull(strstr(dot, "label=\"grad\""));
    assert_matches_file(dot, "neuron_step.dot");
    free(dot);
    char dir[] = "/tmp/nabla_graph_XXXXXX", path[600];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/step.svg", dir);
    ck_assert_msg(nb_graph_draw_save(g, path) == NB_OK, "%s", nb_error());
    assert_svg_parses(path);
    unlink(path);
    rmdir(dir);
    nb_graph_free(g);
    nb_optimizer_free(opt);
}
END_TEST

static Suite *dot_suite(void) {
    Suite *s = suite_create("dot");
    TCase *tc = nb_tcase("dot");
    tcase_add_test(tc, test_forward_dot_of_a_neuron_matches_the_committed_file);
    tcase_add_test(tc, test_backward_dot_of_a_neuron_matches_the_committed_file);
    tcase_add_test(tc, test_a_tensor_used_twice_gets_a_sum_node);
    tcase_add_test(tc, test_rendered_files_are_valid);
    tcase_add_test(tc, test_the_same_graph_gives_the_same_text);
    tcase_add_test(tc, test_dot_errors);
    tcase_add_test(tc, test_compiled_step_dot_matches_the_committed_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return nb_test_run(dot_suite());
}
