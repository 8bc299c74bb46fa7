/* Watch set: which directories the file watch arms for a configuration and which event names
 * in them trigger a reload (the config file, every certificate, key, truststore, CRL and
 * ticket key file, Kubernetes' ..data swap), and which do not (the access log, editors' temp
 * and swap files, unrelated neighbours, the directory itself). */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "mtlb/config.h"
#include "mtlb/watchset.h"

static const struct mtlb_watch_dir *dir_of(const struct mtlb_watchset *ws, const char *dir)
{
    for (size_t i = 0; i < ws->n_dirs; i++) {
        if (strcmp(ws->dirs[i].dir, dir) == 0) {
            return &ws->dirs[i];
        }
    }
    return NULL;
}

static bool concerns(const struct mtlb_watchset *ws, const char *dir, const char *name)
{
    const struct mtlb_watch_dir *d = dir_of(ws, dir);

    cr_assert_not_null(d, "directory %s is watched", dir);
    return mtlb_watchset_concerns(d, name);
}

Test(watchset, splits_paths_and_merges_directories)
{
    struct mtlb_watchset ws = {0};

    cr_assert_eq(mtlb_watchset_add(&ws, "/etc/mtlb/ca.pem"), 0);
    cr_assert_eq(mtlb_watchset_add(&ws, "/etc/mtlb/crl.pem"), 0);
    cr_assert_eq(mtlb_watchset_add(&ws, "/etc/mtlb/ca.pem"), 0, "a repeat changes nothing");
    cr_assert_eq(mtlb_watchset_add(&ws, "/etc/mtlb/tls/api.crt"), 0);
    cr_assert_eq(mtlb_watchset_add(&ws, "/top.pem"), 0);
    cr_assert_eq(mtlb_watchset_add(&ws, "mtlb.yaml"), 0);
    cr_assert_eq(mtlb_watchset_add(&ws, "conf/mtlb.yaml"), 0);

    cr_assert_eq(ws.n_dirs, 5);
    cr_assert_eq(mtlb_watchset_count(&ws), 6);
    const struct mtlb_watch_dir *d = dir_of(&ws, "/etc/mtlb");
    cr_assert_not_null(d);
    cr_assert_eq(d->n_names, 2);
    cr_assert_str_eq(d->names[0], "ca.pem");
    cr_assert_str_eq(d->names[1], "crl.pem");
    cr_assert_eq(d->wd, -1, "not armed yet");
    cr_assert_not_null(dir_of(&ws, "/etc/mtlb/tls"));
    cr_assert(concerns(&ws, "/", "top.pem"), "a file at the root lives in /");
    cr_assert(concerns(&ws, ".", "mtlb.yaml"), "a bare relative name lives in .");
    cr_assert(concerns(&ws, "conf", "mtlb.yaml"));
    mtlb_watchset_fini(&ws);
    cr_assert_eq(ws.n_dirs, 0);
    cr_assert_null(ws.dirs);
}

Test(watchset, refuses_what_is_not_a_file)
{
    struct mtlb_watchset ws = {0};

    cr_assert_eq(mtlb_watchset_add(&ws, ""), -EINVAL);
    cr_assert_eq(mtlb_watchset_add(&ws, NULL), -EINVAL);
    cr_assert_eq(mtlb_watchset_add(&ws, "/etc/mtlb/"), -EINVAL);
    cr_assert_eq(mtlb_watchset_add(&ws, "/"), -EINVAL);
    cr_assert_eq(ws.n_dirs, 0, "nothing was added");
    mtlb_watchset_fini(&ws);
}

/* The names an editor, a deploy tool and Kubernetes produce next to a watched file. */
Test(watchset, which_event_names_concern_a_watched_file)
{
    struct mtlb_watchset ws = {0};

    cr_assert_eq(mtlb_watchset_add(&ws, "/etc/mtlb/ca.pem"), 0);
    static const char *const yes[] = {"ca.pem", "..data"};
    static const char *const no[] = {
        "ca.pem~", /* vim/emacs backup */
        ".ca.pem.swp",
        "4913", /* vim swap and its write probe */
        "ca.pem.tmp",
        ".ca.pem.XXXXXX",                  /* temp file before the rename onto ca.pem */
        "..data_tmp",                      /* Kubernetes' symlink before its rename to ..data */
        "..2026_12_02_08_00_00.123456789", /* Kubernetes' timestamped directory */
        "other.pem",
        "CA.PEM",
        "ca.pe",
        "ca.pem/",
        "",
        NULL,
    };
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        cr_assert(concerns(&ws, "/etc/mtlb", yes[i]), "%s concerns the watch", yes[i]);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        cr_assert_not(concerns(&ws, "/etc/mtlb", no[i]), "%s does not concern the watch",
                      no[i] ? no[i] : "(directory itself)");
    }
    mtlb_watchset_fini(&ws);
}

static const char yaml[] =
    "listeners:\n"
    "  - bind: \":8443\"\n"
    "    backend: app\n"
    "    tls: {ticket_keys: /run/keys/t.keys}\n"
    "    domains:\n"
    "      - names: [a.example.com]\n"
    "        certificate: tls/a.crt\n"
    "        key: tls/a.key\n"
    "        client_auth: {mode: mandatory, truststore: /etc/ca/..data/ca.pem, crl: crl.pem}\n"
    "      - names: [b.example.com]\n"
    "        certificate: tls/b.crt\n"
    "        key: /secret/b.key\n"
    "  - bind: \":9443\"\n"
    "    backend: app\n"
    "    domains:\n"
    "      - names: [c.example.com]\n"
    "        certificate: tls/a.crt\n"
    "        key: tls/a.key\n"
    "        client_auth: {mode: optional, truststore: /etc/ca/ca.pem}\n"
    "backends:\n"
    "  - name: app\n"
    "    servers: [\"127.0.0.1:80\"]\n"
    "log: {access_log: logs/access.log}\n";

Test(watchset, from_config_names_every_file_a_reload_reads)
{
    struct mtlb_config *cfg = NULL;
    char err[256] = "";
    int rc = mtlb_config_parse(yaml, strlen(yaml), "/etc/mtlb/mtlb.yaml", "/etc/mtlb", &cfg, err,
                               sizeof(err));
    cr_assert_eq(rc, 0, "%s", err);

    struct mtlb_watchset ws = {0};
    cr_assert_eq(mtlb_watchset_from_config(&ws, cfg), 0);
    cr_assert(concerns(&ws, "/etc/mtlb", "mtlb.yaml"), "the configuration file itself");
    cr_assert(concerns(&ws, "/etc/mtlb", "crl.pem"));
    cr_assert(concerns(&ws, "/etc/mtlb/tls", "a.crt"));
    cr_assert(concerns(&ws, "/etc/mtlb/tls", "a.key"));
    cr_assert(concerns(&ws, "/etc/mtlb/tls", "b.crt"));
    cr_assert(concerns(&ws, "/secret", "b.key"));
    cr_assert(concerns(&ws, "/etc/ca/..data", "ca.pem"));
    cr_assert(concerns(&ws, "/etc/ca", "ca.pem"));
    cr_assert(concerns(&ws, "/run/keys", "t.keys"), "the listener's ticket key file");
    cr_assert_eq(ws.n_dirs, 6, "each directory once");
    cr_assert_eq(mtlb_watchset_count(&ws), 9, "each file once (a.crt/a.key name twice)");
    cr_assert_null(dir_of(&ws, "/etc/mtlb/logs"), "never the access log: mtlb writes it");
    cr_assert_not(concerns(&ws, "/etc/mtlb", "access.log"));
    mtlb_watchset_fini(&ws);
    mtlb_config_destroy(cfg);
}

Test(watchset, from_config_with_top_level_ticket_keys_and_no_truststore)
{
    static const char y[] = "listeners:\n"
                            "  - bind: \":8443\"\n"
                            "    backend: app\n"
                            "    domains: [{names: [a.b], certificate: a.crt, key: a.key}]\n"
                            "backends: [{name: app, servers: [\"127.0.0.1:80\"]}]\n"
                            "tls: {ticket_keys: keys/t.keys}\n";
    struct mtlb_config *cfg = NULL;
    char err[256] = "";
    cr_assert_eq(mtlb_config_parse(y, strlen(y), "mtlb.yaml", "", &cfg, err, sizeof(err)), 0, "%s",
                 err);

    struct mtlb_watchset ws = {0};
    cr_assert_eq(mtlb_watchset_from_config(&ws, cfg), 0);
    cr_assert(concerns(&ws, ".", "mtlb.yaml"), "a relative config path is watched in .");
    cr_assert(concerns(&ws, ".", "a.crt"));
    cr_assert(concerns(&ws, ".", "a.key"));
    cr_assert(concerns(&ws, "keys", "t.keys"));
    cr_assert_eq(mtlb_watchset_count(&ws), 4);
    mtlb_watchset_fini(&ws);
    mtlb_config_destroy(cfg);
}
