/* tk-tokenshim's combined ECDSA mechanisms, inside the shim (see tokenshim.h). */
#ifndef TK_TOKENSHIM_ECDSA_H
#define TK_TOKENSHIM_ECDSA_H

#include <p11-kit/pkcs11.h>

/*
 * Route shim's mechanism and signing calls through the emulation for
 * TK_TOKENSHIM_ECDSA's mode ("combined", "combined-only"; NULL or "": leave
 * shim as it is). Aborts on another mode: a broken test.
 */
void tk_tokenshim_ecdsa_wire(CK_FUNCTION_LIST *shim, CK_FUNCTION_LIST *real, const char *mode);

#endif
