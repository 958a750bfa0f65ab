/* A test PAM module that asks a second question, like a one-time-code module:
 * "Verification code: " (echo on), and succeeds when the answer equals code=<value>.
 * Only for the bridge's tests of the dialog plugin; built by the tests with gcc. */
#include <security/pam_modules.h>
#include <security/pam_ext.h>
#include <stdlib.h>
#include <string.h>

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    const char *expected = NULL;
    char *answer = NULL;
    int i, ok;
    for (i = 0; i < argc; i++)
        if (strncmp(argv[i], "code=", 5) == 0) expected = argv[i] + 5;
    if (expected == NULL) return PAM_SERVICE_ERR;
    if (pam_prompt(pamh, PAM_PROMPT_ECHO_ON, &answer, "Verification code: ") != PAM_SUCCESS || !answer)
        return PAM_AUTH_ERR;
    ok = strcmp(answer, expected) == 0;
    free(answer);
    return ok ? PAM_SUCCESS : PAM_AUTH_ERR;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    return PAM_SUCCESS;
}
