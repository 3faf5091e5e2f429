/* See asset.h. */
#include "core/asset.h"

#include <string.h>

int asset_table_init(struct asset_table *t, const char *udt_script_json, int usdi_decimals)
{
    memset(t, 0, sizeof *t);
    t->ckb = (struct asset){.code = "CKB", .decimals = 8};
    t->usdi = (struct asset){.code = "USDI", .decimals = usdi_decimals};
    if (udt_script_json == NULL || udt_script_json[0] == '\0')
        return 0;
    json_error_t je;
    json_t *script = json_loads(udt_script_json, 0, &je);
    if (script == NULL || !json_is_object(script)) {
        json_decref(script);
        return -1;
    }
    t->usdi.udt_type_script = script;
    t->usdi_enabled = 1;
    return 0;
}

void asset_table_dispose(struct asset_table *t)
{
    json_decref(t->usdi.udt_type_script);
    t->usdi.udt_type_script = NULL;
}

const struct asset *asset_find(const struct asset_table *t, const char *code, int *known)
{
    *known = 0;
    if (strcmp(code, "CKB") == 0) {
        *known = 1;
        return &t->ckb;
    }
    if (strcmp(code, "USDI") == 0) {
        *known = 1;
        return t->usdi_enabled ? &t->usdi : NULL;
    }
    return NULL;
}

int asset_decimals(const struct asset_table *t, const char *code)
{
    return strcmp(code, t->usdi.code) == 0 ? t->usdi.decimals : t->ckb.decimals;
}
