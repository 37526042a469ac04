/* libFuzzer harness: the `nabla grad` expression parser, evaluator and
 * walk-through on arbitrary text (any variables set to 0.5). */
#include "tools/cli/expr.h"

#include "fuzz_common.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    fuzz_begin();
    memcpy(text, data, size);
    text[size] = '\0';
    static nb_expr e; /* large: keep it off the stack */
    int column;
    if (nb_expr_parse(text, &e, &column) == NB_OK) {
        for (int v = 0; v < e.n_vars; v++) {
            e.var_value[v] = 0.5;
            e.var_set[v] = true;
        }
        static FILE *devnull; /* opened once: the walk-through's printout goes nowhere */
        if (!devnull) devnull = fopen("/dev/null", "w");
        if (devnull) nb_expr_walkthrough(&e, text, devnull);
    }
    free(text);
    fuzz_end();
    return 0;
}
