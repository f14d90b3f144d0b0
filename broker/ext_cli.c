/* ext_cli: the extensions' shared command line, see ext_cli.h. */
#include "broker/ext_cli.h"
#include "broker/ilp_cert.h"
#include "common/version.h"

#include <string.h>

#define S_MAX_OPTIONS 32

enum { S_ROUTER = 'R', S_PUBLISH = 'P', S_CHECK = 'k', S_CERT = 'C' };

/* The shared long options (--check-config when the extension has it), then
 * the extension's own, into out (S_MAX_OPTIONS, NULL-terminated). */
static void s_options(const il_ext_cli_spec_t *spec, struct option *out)
{
    static const struct option shared[] = {{"config", required_argument, NULL, 'c'},
                                           {"name", required_argument, NULL, 'n'},
                                           {"instance", required_argument, NULL, 'i'},
                                           {"router", required_argument, NULL, S_ROUTER},
                                           {"publish", required_argument, NULL, S_PUBLISH},
                                           {"cert", required_argument, NULL, S_CERT},
                                           {"log-level", required_argument, NULL, 'l'},
                                           {"help", no_argument, NULL, 'h'},
                                           {"version", no_argument, NULL, 'V'},
                                           {"check-config", no_argument, NULL, S_CHECK}};
    size_t n = 0, nshared = sizeof shared / sizeof shared[0] - (spec->check_config ? 0 : 1);
    for (size_t i = 0; i < nshared; i++)
        out[n++] = shared[i];
    for (const struct option *o = spec->own; o && o->name && n < S_MAX_OPTIONS - 1; o++)
        out[n++] = *o;
    out[n] = (struct option){NULL, 0, NULL, 0};
}

/* One option. Returns 0 to go on, 1 (answered: exit 0) or 2 (refused). */
static int s_option(il_ext_cli_t *self, const il_ext_cli_spec_t *spec, int opt)
{
    switch (opt) {
    case 0: /* an option of the extension with a flag: getopt set it */
        return 0;
    case 'c':
        self->path = optarg;
        return 0;
    case 'n':
        self->name = optarg;
        return 0;
    case 'i':
        self->instance = optarg;
        return 0;
    case S_ROUTER:
        self->router = optarg;
        return 0;
    case S_PUBLISH:
        self->publish = optarg;
        return 0;
    case 'l':
        self->log_level = optarg;
        return 0;
    case S_CHECK:
        self->check = true;
        return 0;
    case S_CERT:
        self->cert = optarg;
        return 0;
    case 'h':
        spec->usage(stdout);
        return 1;
    case 'V':
        printf("%s %s\n", spec->prog, INTERLOOK_VERSION);
        return 1;
    default:
        if (opt >= IL_EXT_CLI_OWN && spec->on_own)
            return spec->on_own(spec->arg, opt, optarg) == 0 ? 0 : 2;
        spec->usage(stderr); /* getopt said which option */
        return 2;
    }
}

/* Its certificate (--cert, else SECTION.curveCert) and the core's: both or
 * neither, and readable. 0, or 2 after saying why. */
static int s_curve(il_ext_cli_t *self, const il_ext_cli_spec_t *spec)
{
    const char *section = spec->section ? spec->section : spec->name;
    char key[256], err[1024];
    if (!self->cert && section) {
        snprintf(key, sizeof key, "%s.curveCert", section);
        if (il_config_string(self->cfg, key, NULL, &self->cert) != 0) {
            fprintf(stderr, "%s: %s\n", spec->prog, il_config_error(self->cfg));
            return 2;
        }
        if (self->cert && !*self->cert) self->cert = NULL;
    }
    if (!self->cert && !self->bus.core_cert) return 0;
    if (!self->bus.core_cert) {
        fprintf(stderr, "%s: a certificate of its own (%s) but no core.bus.curve.coreCert\n",
                spec->prog, self->cert);
        return 2;
    }
    if (!self->cert) {
        fprintf(stderr,
                "%s: core.bus.curve is set (the bus uses CURVE): give this extension a "
                "certificate of its own with --cert FILE or %s%scurveCert "
                "(interlookctl keygen FILE makes one)\n",
                spec->prog, section ? section : "", section ? "." : "");
        return 2;
    }
    ilp_cert_t cert;
    if (ilp_cert_load_public(&cert, self->bus.core_cert, err, sizeof err) != 0) {
        fprintf(stderr, "%s: core.bus.curve.coreCert: %s\n", spec->prog, err);
        return 2;
    }
    ilp_cert_clear(&cert);
    if (ilp_cert_load_pair(&cert, self->cert, err, sizeof err) != 0) {
        fprintf(stderr, "%s: its certificate: %s\n", spec->prog, err);
        return 2;
    }
    ilp_cert_clear(&cert);
    return 0;
}

static int s_parse(il_ext_cli_t *self, const il_ext_cli_spec_t *spec, int argc, char **argv)
{
    memset(self, 0, sizeof *self);
    self->name = spec->name;
    struct option options[S_MAX_OPTIONS];
    s_options(spec, options);
    /* "+": with commands, the first non-option ends the options (add -x ...). */
    const char *shorts = spec->commands ? "+c:n:i:l:hV" : "c:n:i:l:hV";
    optind = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, shorts, options, NULL)) != -1) {
        int rc = s_option(self, spec, opt);
        if (rc) return rc;
    }
    self->first_command = optind;
    if (!spec->commands && optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", spec->prog, argv[optind]);
        return 2;
    }
    if (spec->needs_config && !self->path) {
        fprintf(stderr, "%s: -c FILE is required (%s)\n", spec->prog, spec->needs_config);
        return 2;
    }
    char err[1024];
    self->cfg = self->path ? il_config_load(self->path, err, sizeof err) : il_config_new_empty();
    if (!self->cfg || il_bus_config_load(&self->bus, self->cfg, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", spec->prog, err);
        return 2;
    }
    return s_curve(self, spec);
}

int il_ext_cli_log_level(const il_ext_cli_t *self, const char *prog, const char *configured,
                         il_log_level_t *level)
{
    const char *text = self->log_level ? self->log_level : configured ? configured : "info";
    if (il_log_level_parse(text, level) == 0) return 0;
    fprintf(stderr, "%s: log level '%s' (use debug|info|warn|error)\n", prog, text);
    return -1;
}

ilp_client_config_t il_ext_cli_client(const il_ext_cli_t *self, uint32_t credit)
{
    ilp_client_config_t config = il_bus_config_client(&self->bus, self->name, self->instance,
                                                      credit, self->router, self->publish);
    config.cert = self->cert;
    return config;
}

int il_ext_cli_parse(il_ext_cli_t *self, const il_ext_cli_spec_t *spec, int argc, char **argv,
                     int *status)
{
    int rc = s_parse(self, spec, argc, argv);
    *status = rc == 1 ? 0 : 2;
    return rc ? -1 : 0;
}

void il_ext_cli_clear(il_ext_cli_t *self)
{
    il_config_destroy(&self->cfg);
}
