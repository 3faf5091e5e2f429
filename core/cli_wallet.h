/* `fiberlinkd wallet address`: prints the hot wallet's address, so an operator knows where to send
 * the CKB that on-chain withdrawals pay out. The key is read from ckb_hot_wallet_key_file
 * (core/ckb_sign.h: refused unless mode 0600) and never printed; the output is two lines, the full
 * (bech32m) address of the default lock for ckb_network, then `args=0x…` (its 20-byte lock args).
 */
#ifndef FL_CLI_WALLET_H
#define FL_CLI_WALLET_H

struct config;

/* argv holds the words after `wallet`. Returns the exit code: 0, 1 (key file unset or refused, bad
 * ckb_network), 2 (usage). */
int cli_wallet(const struct config *cfg, int argc, char **argv);

#endif
