/* Private to the route module (route.c, route_path.c): the pattern splitter both use. */
#ifndef MTLB_ROUTE_INT_H
#define MTLB_ROUTE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "mtlb/route.h"

/* A pattern "P{name}S": P ends with "/", name is [A-Za-z0-9_]+, S is empty or starts with "/"
 * and holds no brace. Fills the parts; false when malformed. */
bool mtlb_route_split_pattern(const char *p, size_t *lit_len, const char **var, size_t *var_len,
                              const char **suffix);

#endif
