/* The wallet command (core/cli_wallet.h): loads the hot wallet key the daemon would use, derives
 * its default lock and prints that lock's address for the configured network. Only the public
 * side leaves this file; the key is wiped before returning. */
#include "core/cli_wallet.h"

#include <stdio.h>
#include <string.h>

#include "core/ckb_address.h"
#include "core/ckb_sign.h"
#include "core/config.h"

static const char wallet_usage[] = "usage: fiberlinkd [--config FILE] wallet address\n";

int cli_wallet(const struct config *cfg, int argc, char **argv)
{
    enum ckb_network net;
    struct ckb_key key;
    struct ckb_script lock;
    char addr[CKB_ADDRESS_MAX + 1], err[512];

    if (argc != 1 || strcmp(argv[0], "address") != 0) {
        fputs(wallet_usage, stderr);
        return 2;
    }
    if (ckb_network_parse(cfg->ckb_network, &net) != 0) {
        fprintf(stderr, "wallet address: ckb_network must be mainnet, testnet or devnet\n");
        return 1;
    }
    if (cfg->ckb_hot_wallet_key_file == NULL) {
        fprintf(stderr, "wallet address: ckb_hot_wallet_key_file is not set (config file or "
                        "FIBERLINK_CKB_HOT_WALLET_KEY_FILE)\n");
        return 1;
    }
    if (ckb_key_load_file(cfg->ckb_hot_wallet_key_file, &key, err, sizeof err) != 0) {
        fprintf(stderr, "wallet address: hot wallet key refused: %s\n", err);
        ckb_key_wipe(&key);
        return 1;
    }
    ckb_key_lock(&key, &lock);
    ckb_key_wipe(&key);
    if (ckb_address_encode_full(net, &lock, addr, sizeof addr) < 0) {
        fprintf(stderr, "wallet address: cannot encode the address\n");
        return 1;
    }
    printf("%s\nargs=0x", addr);
    for (size_t i = 0; i < lock.args_len; i++)
        printf("%02x", lock.args[i]);
    printf("\n");
    return 0;
}
