/* libFuzzer target for the config parser: any byte string must either parse into a config
 * that destroys cleanly or fail with a non-empty, NUL-terminated message. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mtlb/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mtlb_config *cfg = NULL;
    char err[256];

    int rc = mtlb_config_parse((const char *)data, size, "fuzz.yaml", "/etc/mtlb", &cfg, err,
                               sizeof(err));
    if (rc == 0) {
        if (cfg == NULL || cfg->n_listeners == 0 || cfg->n_backends == 0) {
            abort();
        }
        for (size_t i = 0; i < cfg->n_listeners; i++) {
            if (cfg->listeners[i].backend_index >= cfg->n_backends) {
                abort();
            }
        }
        mtlb_config_destroy(cfg);
    } else if (cfg != NULL || err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL) {
        abort();
    }
    return 0;
}
