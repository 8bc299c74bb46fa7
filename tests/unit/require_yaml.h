/* Test helper: reads a YAML document whose root is a require: mapping with the config
 * module's reader, as the routes schema does, under the key path "require". */
#ifndef MTLB_TEST_REQUIRE_YAML_H
#define MTLB_TEST_REQUIRE_YAML_H

#include <string.h>

#include <yaml.h>

#include "../../src/config/config_int.h"

/* 0 and *out filled, or the reader's error (message in err). *out is zeroed first and must be
 * freed with mtlb_cfg_require_free either way. */
static inline int read_require_yaml(const char *yaml, struct mtlb_require_cfg *out, char *err,
                                    size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    int rc = -EINVAL;

    memset(out, 0, sizeof(*out));
    err[0] = '\0';
    if (!yaml_parser_initialize(&parser)) {
        return -ENOMEM;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, strlen(yaml));
    if (yaml_parser_load(&parser, &doc)) {
        struct cfg_ctx ctx = {
            .doc = &doc, .name = "t.yaml", .base_dir = "", .err = err, .errlen = errlen};
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (root != NULL) {
            mtlb_cfg_push(&ctx, "require");
            rc = mtlb_cfg_read_require(&ctx, root, out, NULL);
        }
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    return rc;
}

#endif
