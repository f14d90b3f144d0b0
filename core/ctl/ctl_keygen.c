/* ctl_keygen: interlookctl keygen, see ctl_keygen.h. */
#include "core/ctl/ctl_keygen.h"
#include "broker/ilp_cert.h"

#include <czmq.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int s_usage(const char *what)
{
    fprintf(stderr,
            "interlookctl: keygen: %s\n"
            "usage: interlookctl keygen FILE [--extensions LIST] [--force]\n",
            what);
    return 2;
}

int ctl_keygen_run(int argc, char **argv)
{
    const char *file = NULL, *extensions = NULL;
    bool force = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--force"))
            force = true;
        else if (!strcmp(argv[i], "--extensions") || !strcmp(argv[i], "-e")) {
            if (++i == argc) return s_usage("--extensions needs a list (a,b.*)");
            extensions = argv[i];
        } else if (!strncmp(argv[i], "--extensions=", 13))
            extensions = argv[i] + 13;
        else if (argv[i][0] == '-' && argv[i][1])
            return s_usage("unknown option");
        else if (file)
            return s_usage("one FILE only");
        else
            file = argv[i];
    }
    if (!file || !*file) return s_usage("no FILE given");
    char err[1024];
    if (extensions && ilp_cert_check_list(extensions, err, sizeof err) != 0) {
        fprintf(stderr, "interlookctl: keygen: --extensions: %s\n", err);
        return 2;
    }
    char *secret = zsys_sprintf("%s_secret", file);
    bool exists = !force && (zsys_file_exists(file) || zsys_file_exists(secret));
    zstr_free(&secret);
    if (ilp_cert_generate(file, extensions, force, err, sizeof err) != 0) {
        fprintf(stderr, "interlookctl: keygen: %s\n", err);
        return exists ? 2 : 1;
    }
    ilp_cert_t cert;
    if (ilp_cert_load_public(&cert, file, err, sizeof err) == 0) {
        printf("%s: public key %s%s%s\n%s_secret: its secret key (mode 0600): keep it with its "
               "holder only\n",
               file, cert.public_key,
               extensions ? ", may register as " : ", may register as any name",
               extensions ? extensions : "", file);
        ilp_cert_clear(&cert);
    }
    return 0;
}
