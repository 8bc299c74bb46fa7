/* h2c command line: global options and --stream specs, turned into h2c_opts and the array of
 * streams to open. Only parsing and usage text here; the connection is in h2c.c. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h2c.h"

static void usage(FILE *f)
{
    fprintf(
        f, "usage: h2c --port PORT [options] [--stream SPEC]...\n"
           "HTTP/2 over TLS (ALPN h2) test client. Connection options:\n"
           "  --host ADDR          connect address (default 127.0.0.1)\n"
           "  --sni NAME           TLS server name (default: none)\n"
           "  --cert FILE --key FILE  client certificate (chain) and key\n"
           "  --authority A        default :authority (default: SNI, else localhost)\n"
           "  --timeout MS         whole-run deadline (default 10000); exit 3 when hit\n"
           "  --linger MS          after the last stream, keep reading this long (GOAWAY, close)\n"
           "  --window BYTES       SETTINGS_INITIAL_WINDOW_SIZE (default 1048576)\n"
           "  --offer-h1           offer h2 and http/1.1 in ALPN (default: h2 only)\n"
           "  --tls12              TLS 1.2 only (default: 1.2 or 1.3, whichever is agreed)\n"
           "  --session FILE       offer the TLS session saved in FILE (if any) for resumption;\n"
           "                       save the connection's session there at the end\n"
           "  --show-header NAME   print this response header (repeatable)\n"
           "  --all-headers        print every response header\n"
           "  --print-body         print response bodies, each line as 'body ID| LINE'\n"
           "  --rapid-reset N      first open and immediately reset N streams (HEADERS+RST)\n"
           "  --rapid-reset-batch K  write K HEADERS+RST pairs at a time (default 1)\n"
           "  --continuation-flood N  HEADERS without END_HEADERS, then N 1 KB CONTINUATIONs\n"
           "  --proxy-header HEX   send these bytes (a PROXY protocol header) before TLS\n"
           "SPEC: comma-separated items, for one or more streams on the connection:\n"
           "  path=P method=M authority=A n=COUNT (copies, opened concurrently)\n"
           "  no-authority (no :authority; add header=host:H for a host field instead)\n"
           "  body=N (request body of N bytes, byte i = 'a' + i %% 26)  no-cl (no content-length)\n"
           "  header=NAME:VALUE trailer=NAME:VALUE (repeatable)  big-header=N (x-big: N bytes)\n"
           "  reset-recv=K  reset-send=K (RST_STREAM CANCEL after K response/request body bytes)\n"
           "  stall-send=K (send no request body byte past K, keep the stream open)\n"
           "  after (open only once every earlier stream has closed)\n"
           "  delay=MS (with after: open MS milliseconds after that)\n"
           "No --stream: one GET /. Output, one line each:\n"
           "  connected alpn=P tls=V resumed=0|1 | handshake failed: WHY\n"
           "  settings NAME=VALUE...            (each SETTINGS frame from the server)\n"
           "  open ID path=P                    (HEADERS sent)\n"
           "  stream ID status=S bytes=N fnv=HEX16 sent=N trailers=N reset=-|ERR/peer|local|conn\n"
           "         state=closed|open|unsent path=P\n"
           "  header ID name: value | trailer ID name: value | body ID| line\n"
           "  goaway last_stream_id=N error=NAME(0xCODE)\n"
           "  rapid-reset sent=N\n"
           "  continuation-flood sent=N\n"
           "  end streams=N closed=N ok=N reset=N goaway=0|1 peer_closed=0|1 timeout=0|1 exit=N\n"
           "Exit: 0 the h2 connection worked (whatever the statuses), 1 no connection or no h2,\n"
           "2 usage, 3 timeout, 4 the connection broke (error, or closed without GOAWAY).\n");
}

static bool parse_u64(const char *s, unsigned long long *out)
{
    char *end;
    if (!isdigit((unsigned char)*s)) {
        return false;
    }
    *out = strtoull(s, &end, 10);
    return *end == '\0';
}

/* "name:value" into an nghttp2_nv (lower-cased name); false when malformed or full. */
static bool add_nv(nghttp2_nv *arr, size_t *n, const char *item)
{
    const char *colon = strchr(item + 1, ':');
    if (colon == NULL || *n >= H2C_MAX_HDRS) {
        return false;
    }
    char *name = strndup(item, (size_t)(colon - item));
    for (char *p = name; *p; p++) {
        *p = (char)tolower((unsigned char)*p);
    }
    char *value = strdup(colon + 1);
    arr[(*n)++] = (nghttp2_nv){(uint8_t *)name, (uint8_t *)value, strlen(name), strlen(value),
                               NGHTTP2_NV_FLAG_NONE};
    return true;
}

static bool spec_item(struct h2c_spec *sp, char *item, unsigned long long *count, bool *after)
{
    char *eq = strchr(item, '=');
    const char *v = eq ? eq + 1 : "";
    unsigned long long u = 0;
    if (eq != NULL) {
        *eq = '\0';
    }
    if (strcmp(item, "path") == 0) {
        sp->path = strdup(v);
    } else if (strcmp(item, "method") == 0) {
        sp->method = strdup(v);
    } else if (strcmp(item, "authority") == 0) {
        sp->authority = strdup(v);
    } else if (strcmp(item, "n") == 0) {
        return parse_u64(v, count) && *count > 0;
    } else if (strcmp(item, "body") == 0) {
        bool ok = parse_u64(v, &u);
        sp->body = u;
        return ok;
    } else if (strcmp(item, "no-authority") == 0) {
        sp->no_authority = true;
    } else if (strcmp(item, "no-cl") == 0) {
        sp->no_cl = true;
    } else if (strcmp(item, "after") == 0) {
        *after = true;
    } else if (strcmp(item, "header") == 0) {
        return add_nv(sp->hdrs, &sp->n_hdrs, v);
    } else if (strcmp(item, "trailer") == 0) {
        return add_nv(sp->trailers, &sp->n_trailers, v);
    } else if (strcmp(item, "big-header") == 0) {
        if (!parse_u64(v, &u) || u == 0 || u > (1u << 24)) {
            return false;
        }
        sp->big_header = u;
        sp->big_value = malloc(u + 1);
        memset(sp->big_value, 'x', u);
        sp->big_value[u] = '\0';
    } else if (strcmp(item, "delay") == 0) {
        return parse_u64(v, &u) && (sp->delay_ms = u) <= 60000;
    } else if (strcmp(item, "stall-send") == 0) {
        bool ok = parse_u64(v, &u);
        sp->stall_send = (long long)u;
        return ok;
    } else if (strcmp(item, "reset-recv") == 0 || strcmp(item, "reset-send") == 0) {
        bool ok = parse_u64(v, &u);
        *(item[6] == 'r' ? &sp->reset_recv : &sp->reset_send) = (long long)u;
        return ok;
    } else {
        return false;
    }
    return true;
}

/* Appends the streams of one SPEC to *streams. */
static bool add_spec(const char *text, struct h2c_stream **streams, size_t *n, int *group)
{
    struct h2c_spec *sp = calloc(1, sizeof(*sp));
    sp->path = "/";
    sp->reset_recv = sp->reset_send = sp->stall_send = -1;
    unsigned long long count = 1;
    bool after = false;
    char *copy = strdup(text), *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        if (!spec_item(sp, item, &count, &after)) {
            fprintf(stderr, "h2c: bad item '%s' in --stream %s\n", item, text);
            return false;
        }
    }
    free(copy);
    if (after && *n > 0) {
        (*group)++;
    }
    *streams = realloc(*streams, (*n + count) * sizeof(**streams));
    for (unsigned long long i = 0; i < count; i++) {
        (*streams)[(*n)++] = (struct h2c_stream){.sp = sp, .group = *group, .fnv = H2C_FNV_BASIS};
    }
    return true;
}

static bool parse_opt(struct h2c_opts *o, const char *name, const char *v)
{
    unsigned long long u = 0;
    if (strcmp(name, "--port") == 0) {
        o->port = atoi(v);
    } else if (strcmp(name, "--host") == 0) {
        o->host = v;
    } else if (strcmp(name, "--sni") == 0) {
        o->sni = v;
    } else if (strcmp(name, "--cert") == 0) {
        o->cert = v;
    } else if (strcmp(name, "--key") == 0) {
        o->key = v;
    } else if (strcmp(name, "--session") == 0) {
        o->session = v;
    } else if (strcmp(name, "--authority") == 0) {
        o->authority = v;
    } else if (strcmp(name, "--timeout") == 0 && parse_u64(v, &u)) {
        o->timeout_ms = (int)u;
    } else if (strcmp(name, "--linger") == 0 && parse_u64(v, &u)) {
        o->linger_ms = (int)u;
    } else if (strcmp(name, "--window") == 0 && parse_u64(v, &u) && u <= 0x7fffffff) {
        o->window = (uint32_t)u;
    } else if (strcmp(name, "--rapid-reset") == 0 && parse_u64(v, &u)) {
        o->rapid_reset = (long)u;
    } else if (strcmp(name, "--continuation-flood") == 0 && parse_u64(v, &u)) {
        o->continuation_flood = (long)u;
    } else if (strcmp(name, "--rapid-reset-batch") == 0 && parse_u64(v, &u) && u <= 200) {
        o->rapid_reset_batch = (long)u;
    } else if (strcmp(name, "--proxy-header") == 0) {
        o->proxy_hex = v;
    } else if (strcmp(name, "--show-header") == 0 && o->n_show < H2C_MAX_SHOW) {
        o->show[o->n_show++] = v;
    } else {
        return false;
    }
    return true;
}

int h2c_parse_args(int argc, char **argv, struct h2c_opts *o, struct h2c_stream **streams,
                   size_t *n)
{
    *o = (struct h2c_opts){.host = "127.0.0.1", .timeout_ms = 10000, .window = 1 << 20};
    *streams = NULL;
    *n = 0;
    int group = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool ok = true;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--all-headers") == 0) {
            o->all_headers = true;
        } else if (strcmp(a, "--print-body") == 0) {
            o->print_body = true;
        } else if (strcmp(a, "--offer-h1") == 0) {
            o->offer_h1 = true;
        } else if (strcmp(a, "--tls12") == 0) {
            o->tls12 = true;
        } else if (i + 1 >= argc) {
            ok = false;
        } else if (strcmp(a, "--stream") == 0) {
            ok = add_spec(argv[++i], streams, n, &group);
        } else {
            ok = parse_opt(o, a, argv[++i]);
        }
        if (!ok) {
            fprintf(stderr, "h2c: bad option %s\n", a);
            usage(stderr);
            return -1;
        }
    }
    if (o->port <= 0 || o->port > 65535 || (o->cert == NULL) != (o->key == NULL)) {
        usage(stderr);
        return -1;
    }
    if (o->authority == NULL) {
        o->authority = o->sni ? o->sni : "localhost";
    }
    if (*n == 0 && o->rapid_reset == 0 && o->continuation_flood == 0) {
        add_spec("path=/", streams, n, &group);
    }
    return 0;
}
