/* The assets the hub handles and how their amounts are denominated: CKB (8 decimals, base unit
 * shannon) always; USDI (a UDT) only when its type script is configured. */
#ifndef FL_ASSET_H
#define FL_ASSET_H

#include <jansson.h>

struct asset {
    const char *code;        /* "CKB" | "USDI" */
    int decimals;
    json_t *udt_type_script; /* NULL for CKB; {"code_hash","hash_type","args"} for a UDT */
};

struct asset_table {
    struct asset ckb;
    struct asset usdi;
    int usdi_enabled;
};

/* udt_script_json NULL or "" leaves USDI disabled. Returns 0, or -1 when the JSON is invalid. */
int asset_table_init(struct asset_table *t, const char *udt_script_json, int usdi_decimals);
void asset_table_dispose(struct asset_table *t);
/* NULL when the code is unknown or the asset is not enabled. *known is set to 1 when the code
 * names an asset the hub knows at all (so callers can tell "unknown" from "not allowed"). */
const struct asset *asset_find(const struct asset_table *t, const char *code, int *known);

/* Decimals of an asset code as stored in the ledger, whether or not the asset is enabled now
 * (a USDI tip stays USDI after USDI is switched off); CKB's for an unknown code. */
int asset_decimals(const struct asset_table *t, const char *code);

#endif
