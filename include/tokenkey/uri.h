/*
 * RFC 7512 "pkcs11:" URIs: parse, format, free.
 *
 * A parsed URI keeps every attribute decoded (percent-escapes resolved), so
 * matching code compares plain bytes. Absent attributes are NULL / has_* = 0.
 * The pin-value attribute is a secret: it is wiped on free and never written
 * back out by tk_uri_format().
 */
#ifndef TOKENKEY_URI_H
#define TOKENKEY_URI_H

#include <stddef.h>

/* The object classes RFC 7512 section 2.3 allows in "type=". */
typedef enum {
    TK_URI_TYPE_ANY = 0,   /* no type= attribute */
    TK_URI_TYPE_PUBLIC,    /* "public"     -> CKO_PUBLIC_KEY  */
    TK_URI_TYPE_PRIVATE,   /* "private"    -> CKO_PRIVATE_KEY */
    TK_URI_TYPE_CERT,      /* "cert"       -> CKO_CERTIFICATE */
    TK_URI_TYPE_SECRET,    /* "secret-key" -> CKO_SECRET_KEY  */
    TK_URI_TYPE_DATA       /* "data"       -> CKO_DATA        */
} TK_URI_TYPE;

typedef struct tk_uri {
    /* path attributes, RFC 7512 section 2.3 (decoded, NUL-terminated) */
    char *token;                /* CK_TOKEN_INFO.label          */
    char *manufacturer;         /* CK_TOKEN_INFO.manufacturerID */
    char *serial;               /* CK_TOKEN_INFO.serialNumber   */
    char *model;                /* CK_TOKEN_INFO.model          */
    char *library_manufacturer; /* CK_INFO.manufacturerID       */
    char *library_description;  /* CK_INFO.libraryDescription   */
    int has_library_version;    /* library-version=M[.N]        */
    unsigned char library_version_major, library_version_minor;
    char *slot_manufacturer;    /* CK_SLOT_INFO.manufacturerID  */
    char *slot_description;     /* CK_SLOT_INFO.slotDescription */
    int has_slot_id;            /* slot-id=decimal              */
    unsigned long slot_id;
    char *object;               /* CKA_LABEL                    */
    TK_URI_TYPE type;           /* CKA_CLASS                    */
    unsigned char *id;          /* CKA_ID, binary               */
    size_t id_len;
    int has_id;                 /* id= present (may be empty)   */

    /* query attributes, RFC 7512 section 2.3 */
    char *pin_value;            /* secret: wiped by tk_uri_free */
    char *pin_source;           /* e.g. "file:/path" or "/path" */
    char *module_name;
    char *module_path;
} TK_URI;

/* Why a URI was rejected. tk_uri_strerror() gives the text. */
typedef enum {
    TK_URI_OK = 0,
    TK_URI_ERR_EMPTY,           /* NULL or "" ("pkcs11:" alone is valid)     */
    TK_URI_ERR_SCHEME,          /* does not start with "pkcs11:"             */
    TK_URI_ERR_SYNTAX,          /* attribute without '=', empty name, ...    */
    TK_URI_ERR_UNKNOWN_ATTR,    /* not an RFC 7512 attribute, not "x-..."    */
    TK_URI_ERR_DUPLICATE_ATTR,  /* same attribute twice                      */
    TK_URI_ERR_BAD_ESCAPE,      /* '%' not followed by two hex digits        */
    TK_URI_ERR_BAD_VALUE,       /* type=foo, slot-id=abc, library-version=x  */
    TK_URI_ERR_BAD_CHAR,        /* a character RFC 7512 requires escaped     */
    TK_URI_ERR_NOMEM
} TK_URI_ERR;

/* Details of a failed parse, for an error message a user can act on. */
typedef struct tk_uri_error {
    TK_URI_ERR code;
    size_t offset;              /* byte offset in the input where it went wrong */
    /*
     * The attribute name involved, "" if none. Safe to print where the URI
     * is not (it may hold a PIN): only name characters, up to the first
     * other one, and for a segment without '=' only a known attribute.
     */
    char attr[32];
} TK_URI_ERROR;

/*
 * Whether text is meant as a pkcs11: URI: it starts with the scheme, in any
 * case (schemes are case-insensitive, RFC 3986 section 3.1).
 */
int tk_uri_is_pkcs11(const char *text);

/*
 * Parse text into a new TK_URI. Returns TK_URI_OK and sets *out, or an error
 * code (and fills *err when err != NULL) with *out untouched.
 * Vendor attributes ("x-...") are accepted and ignored, per RFC 7512 2.3.
 */
TK_URI_ERR tk_uri_parse(const char *text, TK_URI **out, TK_URI_ERROR *err);

/* A short English description of an error code, e.g. "unknown attribute". */
const char *tk_uri_strerror(TK_URI_ERR code);

/*
 * Format a URI (percent-encoding what RFC 7512 requires), in the attribute
 * order token, manufacturer, serial, model, library-*, slot-*, object, type,
 * id, then query attributes pin-source, module-name, module-path.
 * pin-value is never written. Returns a malloc'd string (free with
 * OPENSSL_free), or NULL on allocation failure.
 * pin-source is written as it is (a URI written for a program to read
 * keeps it), so a message must not use this: in the provider,
 * tk_objects_uri_for_message leaves pin-source's value out, as it may be
 * a misplaced PIN.
 */
char *tk_uri_format(const TK_URI *uri);

/* Deep copy (including pin-value), or NULL on allocation failure. */
TK_URI *tk_uri_dup(const TK_URI *uri);

/* Wipes pin-value, frees everything. NULL is fine. */
void tk_uri_free(TK_URI *uri);

/* The RFC 7512 spelling of a type= value; NULL for TK_URI_TYPE_ANY or unknown. */
const char *tk_uri_type_name(TK_URI_TYPE type);

#endif
