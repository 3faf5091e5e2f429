/* The simulator's state: invoices of the local node and of one simulated remote node, payment
 * sessions, the simulated clock, and the invoice string codec. Invoice strings are bech32m with
 * FNN's HRP ("fibt" + optional decimal amount) and a data part that carries everything
 * parse_invoice needs (payee key, hash, amount, timestamp, expiry, description, UDT script, which
 * node issued it), so any sim invoice decodes without the store. Not FNN's molecule layout: only
 * the simulator reads the data part. */
#ifndef FNN_SIM_STORE_H
#define FNN_SIM_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/fnn.h"

#define SIM_MAX_DESCRIPTION FNN_DESCRIPTION_MAX
#define SIM_MAX_UDT_ARGS 256
/* FNN's final_expiry_delta bounds (ms): MIN_TLC_EXPIRY_DELTA (160 min), 14 days */
#define SIM_MIN_FINAL_EXPIRY_DELTA 9600000ULL
#define SIM_MAX_FINAL_EXPIRY_DELTA 1209600000ULL

enum sim_currency { SIM_CUR_FIBB = 0, SIM_CUR_FIBT, SIM_CUR_FIBD };
enum sim_hash_alg { SIM_HASH_CKB = 0, SIM_HASH_SHA256 };
enum sim_inv_status {
    SIM_INV_OPEN = 0,
    SIM_INV_CANCELLED,
    SIM_INV_EXPIRED,
    SIM_INV_RECEIVED,
    SIM_INV_PAID,
};
enum sim_pay_status { SIM_PAY_CREATED = 0, SIM_PAY_INFLIGHT, SIM_PAY_SUCCESS, SIM_PAY_FAILED };
enum sim_node { SIM_NODE_LOCAL = 0, SIM_NODE_REMOTE };

struct sim_udt {
    uint8_t code_hash[32];
    uint8_t hash_type; /* molecule byte: data 0, type 1, data1 2, data2 4 */
    uint8_t args[SIM_MAX_UDT_ARGS];
    size_t args_len;
};

/* What an invoice string carries. */
struct sim_invoice_data {
    enum sim_node node;
    enum sim_currency currency;
    uint8_t payment_hash[32];
    int has_amount;
    uint64_t amount;
    uint64_t timestamp_ms;
    int has_expiry;
    uint64_t expiry_s;
    uint64_t final_expiry_delta_ms;
    int hash_alg_set; /* the hash_algorithm attr is present */
    enum sim_hash_alg hash_alg;
    char description[SIM_MAX_DESCRIPTION + 1];
    int has_description;
    int has_udt;
    struct sim_udt udt;
};

struct sim_invoice {
    struct sim_invoice_data d;
    int has_preimage; /* 0: hold invoice */
    uint8_t preimage[32];
    enum sim_inv_status status; /* stored status; Expired is computed lazily from Open */
    int pay_on_cancel;          /* sim_pay_invoice {when:"before_cancel"}: pay at the next cancel */
    char *address;
};

struct sim_payment {
    uint8_t payment_hash[32];
    enum sim_pay_status status;
    uint64_t created_at_ms, last_updated_at_ms;
    uint64_t fee;
    uint64_t amount;
    char *failed_error; /* set when Failed */
    char *fail_with;    /* scripted: the session will end Failed with this text */
    unsigned sessions;  /* send_payment calls that created a session for this hash */
    unsigned polls;     /* get_payment calls on the current session */
};

/* A channel of the local node with the simulated remote node (list_channels). Only the control
 * methods change it: payments do not move its balances. */
#define SIM_CHANNEL_STATE_MAX 32
struct sim_channel {
    uint8_t channel_id[32];
    uint8_t funding_tx[32]; /* channel_outpoint's transaction (index 0) */
    int has_udt;            /* funded with a UDT (funding_udt_type_script), else CKB */
    struct sim_udt udt;
    uint64_t local_balance, remote_balance; /* base units of the channel's asset */
    uint64_t offered_tlc_balance, received_tlc_balance;
    char state[SIM_CHANNEL_STATE_MAX]; /* FNN's state_name: NegotiatingFunding … ChannelReady,
                                        * ShuttingDown, Closed */
    int is_public;
    uint64_t created_at_ms;
};

struct sim_store;

struct sim_store *sim_store_new(enum sim_currency currency);
void sim_store_free(struct sim_store *s);

enum sim_currency sim_store_currency(const struct sim_store *s);
const char *sim_currency_name(enum sim_currency c); /* "Fibt" */
int sim_currency_parse(const char *s, enum sim_currency *out);
const char *sim_inv_status_name(enum sim_inv_status st);
const char *sim_pay_status_name(enum sim_pay_status st);
/* 66 hex chars, no 0x. */
const char *sim_node_pubkey(enum sim_node n);

/* Simulated clock: wall clock plus the offset moved by sim_advance_clock. */
uint64_t sim_store_now_ms(const struct sim_store *s);
/* The routing fee send_payment charges, in parts per million of the amount (0.1 % at start). */
uint64_t sim_store_route_fee_ppm(const struct sim_store *s);
void sim_store_set_route_fee_ppm(struct sim_store *s, uint64_t ppm);
void sim_store_advance(struct sim_store *s, uint64_t seconds);

/* Status as get_invoice reports it (lazy Expired). */
enum sim_inv_status sim_invoice_status(const struct sim_store *s, const struct sim_invoice *inv);
int sim_invoice_expired(const struct sim_store *s, const struct sim_invoice_data *d);

/* Adds an invoice to the issuing node's table and encodes its address. Returns NULL when the
 * hash is already there. */
struct sim_invoice *sim_store_add_invoice(struct sim_store *s, const struct sim_invoice_data *d,
                                          const uint8_t *preimage);
struct sim_invoice *sim_store_invoice(struct sim_store *s, enum sim_node node,
                                      const uint8_t hash[32]);

struct sim_payment *sim_store_payment(struct sim_store *s, const uint8_t hash[32]);
struct sim_payment *sim_store_add_payment(struct sim_store *s, const uint8_t hash[32]);
/* Every payment in creation order. */
size_t sim_store_payment_count(const struct sim_store *s);
struct sim_payment *sim_store_payment_at(struct sim_store *s, size_t i);

/* Channels, in the order they were opened. add copies c and returns the stored one. */
struct sim_channel *sim_store_add_channel(struct sim_store *s, const struct sim_channel *c);
struct sim_channel *sim_store_channel(struct sim_store *s, const uint8_t id[32]);
size_t sim_store_channel_count(const struct sim_store *s);
struct sim_channel *sim_store_channel_at(struct sim_store *s, size_t i);

/* Invoice string codec. encode returns a malloc'd string. decode returns 0, or -1 with an
 * FNN InvoiceError-like text in err. */
char *sim_invoice_encode(const struct sim_invoice_data *d);
int sim_invoice_decode(const char *s, struct sim_invoice_data *d, char *err, size_t errsz);
/* The CkbInvoice JSON object for d (with the signature derived from the string). */
json_t *sim_invoice_json(const struct sim_invoice_data *d);

#endif
