/* Fuzzes bech32m: whatever decodes must re-encode to the same string (in lower case), since the
 * strict decoder admits exactly one spelling per hrp and data; and any bytes must survive an
 * encode/decode round trip. A mismatch aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/bech32.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t hrpsz = size + 8, n = size;
    char *hrp = malloc(hrpsz), *out = malloc(2 * size + 32);
    uint8_t *bytes = malloc(size + 1);
    int m;

    if (hrp == NULL || out == NULL || bytes == NULL)
        goto done;

    if (bech32m_decode((const char *)data, size, hrp, hrpsz, bytes, &n) == 0) {
        m = bech32m_encode(hrp, bytes, n, out, 2 * size + 32);
        if (m < 0 || (size_t)m != size)
            abort();
        for (size_t i = 0; i < size; i++) {
            char ch = (char)data[i];
            if (ch >= 'A' && ch <= 'Z')
                ch = (char)(ch - 'A' + 'a');
            if (out[i] != ch)
                abort();
        }
    }

    m = bech32m_encode("fibt1", data, size, out, 2 * size + 32);
    if (m < 0)
        abort();
    n = size + 1;
    if (bech32m_decode(out, (size_t)m, hrp, hrpsz, bytes, &n) != 0 || n != size ||
        strcmp(hrp, "fibt1") != 0 || (size > 0 && memcmp(bytes, data, size) != 0))
        abort();

done:
    free(hrp);
    free(out);
    free(bytes);
    return 0;
}
