/* BLAKE2b-256 with CKB's personalization "ckb-default-hash": FNN's default invoice hash algorithm
 * (ckb_hash). OpenSSL 3.0 cannot personalize BLAKE2b, so the simulator carries its own small
 * implementation of RFC 7693. */
#ifndef FNN_SIM_BLAKE2B_H
#define FNN_SIM_BLAKE2B_H

#include <stddef.h>
#include <stdint.h>

void sim_ckb_hash(const void *msg, size_t len, uint8_t out[32]);

#endif
