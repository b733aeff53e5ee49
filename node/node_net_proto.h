/* node_net_proto.h -- the wire protocol of gridnode's P2P transport, without
 * sockets: the handshake and the encrypted frames of one connection as a pure
 * state machine that is fed bytes and says what to send, when the peer is
 * authenticated and which frames arrived.  node_net.c moves the bytes with
 * libevent; the fuzz target and the unit tests drive this file directly.
 *
 * Handshake (both sides send their hello at once, in no fixed order):
 *
 *   hello  = "GLNT" | version u16 BE | L u8 | flags u8 (0) | ephemeral X25519 pk [32]
 *            | node Ed25519 pk [32] | chain id [L]                (72 + L bytes, 1 <= L <= 128)
 *
 * Each side reads the peer's hello, checks magic, version and chain id and
 * derives the session keys with crypto_kx (the dialer is the client).  The
 * dialer then sends its reply; the acceptor sends its own only after it has
 * verified the dialer's (and node_net.c has accepted the key), so a refused
 * dialer never sees itself accepted:
 *
 *   stream header [24]   (crypto_secretstream_xchacha20poly1305_init_push)
 *   frame(auth)          auth = Ed25519 signature [64] of
 *                        "gridledger-net-v1 auth " | role ("client"/"server") | T
 *   where T = BLAKE2b-256("gridledger-net-v1 transcript" | u16 BE len | client hello
 *                         | u16 BE len | server hello).
 *
 * T binds both ephemeral keys, both identities, the chain id and the version;
 * the role word stops a signature being reflected back to its signer, and the
 * fresh ephemeral keys stop replay.  The auth frame is also the first frame
 * under the new session keys, so it proves possession of the ephemeral secret
 * as well as the node key.
 *
 * Frames: u32 BE ciphertext length | ciphertext (secretstream, tag MESSAGE),
 * ciphertext length = plaintext length + NODE_NET_ABYTES; the length is checked
 * against max_frame before anything is buffered for it. */
#ifndef NODE_NET_PROTO_H
#define NODE_NET_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#define NODE_NET_VERSION        1u
#define NODE_NET_MAGIC          "GLNT"
#define NODE_NET_CHAIN_ID_MAX   128u
#define NODE_NET_HELLO_FIXED    72u
#define NODE_NET_HELLO_MAX      (NODE_NET_HELLO_FIXED + NODE_NET_CHAIN_ID_MAX)
#define NODE_NET_ABYTES         17u /* crypto_secretstream_xchacha20poly1305_ABYTES */
#define NODE_NET_HEADERBYTES    24u /* crypto_secretstream_xchacha20poly1305_HEADERBYTES */
#define NODE_NET_FRAME_OVERHEAD (4u + NODE_NET_ABYTES)
#define NODE_NET_AUTH_BYTES     64u
/* What a side sends once it has the peer's hello: stream header and auth frame. */
#define NODE_NET_REPLY_BYTES (NODE_NET_HEADERBYTES + NODE_NET_FRAME_OVERHEAD + NODE_NET_AUTH_BYTES)
#define NODE_NET_WHY_BYTES   256u

/* The result space of the transport: codes -600 and down (chain/ owns
 * -1..-199, market/ -200..-299, node_book_json -400..). */
#define NODE_NET_ERRORS(X)                                                                         \
    X(OK, 0, "ok")                                                                                 \
    X(NOMEM, -600, "out of memory")                                                                \
    X(INVALID_ARG, -601, "invalid argument or configuration")                                      \
    X(LISTEN, -602, "cannot listen on the configured address")                                     \
    X(PEER_DOWN, -603, "peer is not connected")                                                    \
    X(QUEUE_FULL, -604, "peer's write queue is over its limit; the peer was dropped")              \
    X(TOO_LARGE, -605, "frame is larger than max_frame")                                           \
    X(NEED_MORE, -606, "more bytes are needed")                                                    \
    X(BAD_MAGIC, -610, "not a gridledger peer (bad magic)")                                        \
    X(BAD_VERSION, -611, "peer speaks another protocol version")                                   \
    X(BAD_HELLO, -612, "malformed handshake message")                                              \
    X(WRONG_CHAIN, -613, "peer is on another chain")                                               \
    X(BAD_AUTH, -614, "handshake signature does not verify")                                       \
    X(UNKNOWN_KEY, -615, "peer proved a key that is not a known node")                             \
    X(FRAME_TOO_LARGE, -616, "incoming frame exceeds max_frame")                                   \
    X(FRAME_TOO_SHORT, -617, "incoming frame is shorter than its authentication tag")              \
    X(DECRYPT, -618, "frame does not decrypt (tampered, reordered or wrong key)")                  \
    X(SELF, -619, "connected to ourselves")                                                        \
    X(TIMEOUT, -620, "handshake timed out")                                                        \
    X(CLOSED, -621, "connection closed by the peer")                                               \
    X(SOCKET, -622, "socket error")                                                                \
    X(DUPLICATE, -623, "duplicate connection to the same peer")                                    \
    X(TOO_MANY_PEERS, -624, "too many unknown peers")                                              \
    X(WRONG_KEY, -625, "dialed peer proved another key than configured")

enum node_net_err {
#define NODE_NET_ERR_ENUM_(name, code, msg) NODE_NET_ERR_##name = (code),
    NODE_NET_ERRORS(NODE_NET_ERR_ENUM_)
#undef NODE_NET_ERR_ENUM_
};

/* The stable name of a code without prefix ("WRONG_CHAIN").  Never NULL. */
const char *node_net_err_name(int err);
/* The message for a code.  Never NULL. */
const char *node_net_strerror(int err);

#define NODE_NET_MUST_USE __attribute__((warn_unused_result))

/* One decoded hello.  chain_id is NUL-terminated (chain_len bytes before it,
 * which may themselves contain any byte: print with node_net_quote). */
struct node_net_hello {
    uint16_t version;
    uint8_t eph[32];
    uint8_t key[32];
    size_t chain_len;
    char chain_id[NODE_NET_CHAIN_ID_MAX + 1];
};

/* Encode h into out; *len the size.  h->chain_len must be 1..NODE_NET_CHAIN_ID_MAX. */
void node_net_hello_encode(const struct node_net_hello *h, uint8_t out[static NODE_NET_HELLO_MAX],
                           size_t *len /* OUT */);

/* Parse a hello from the prefix buf[0..len).  Returns OK with *used its size;
 * NEED_MORE with *used the total size needed so far (> len) when buf is a
 * valid but incomplete prefix; BAD_MAGIC as soon as a byte of the magic
 * differs; BAD_VERSION (with out->version set) when the version is not ours;
 * BAD_HELLO for a zero or oversize chain id length or non-zero flags. */
NODE_NET_MUST_USE int node_net_hello_parse(const uint8_t *buf, size_t len,
                                           struct node_net_hello *out /* OUT */,
                                           size_t *used /* OUT */);

/* Check a frame header in buf[0..len): OK with *total = 4 + ciphertext length
 * when len >= 4 and the length is within max_frame + NODE_NET_ABYTES;
 * NEED_MORE (*total = 4) when len < 4; FRAME_TOO_LARGE or FRAME_TOO_SHORT. */
NODE_NET_MUST_USE int node_net_frame_check(const uint8_t *buf, size_t len, size_t max_frame,
                                           size_t *total /* OUT */);

/* Print bytes as a quoted C-like string (printable ASCII kept, others \xNN),
 * truncated to fit out; always NUL-terminated. */
void node_net_quote(const uint8_t *s, size_t len, char *out, size_t cap);

enum node_net_sess_state {
    NODE_NET_SESS_HELLO = 0, /* waiting for the peer's hello */
    NODE_NET_SESS_STREAM,    /* waiting for the peer's stream header */
    NODE_NET_SESS_AUTH,      /* waiting for the peer's auth frame */
    NODE_NET_SESS_UP,        /* authenticated: application frames */
    NODE_NET_SESS_FAILED,    /* sticky: every further input fails */
};

enum node_net_ev_kind {
    NODE_NET_EV_NONE = 0, /* bytes consumed, nothing to report */
    NODE_NET_EV_SEND,     /* send data[0..len) to the peer now (dialer, after our hello) */
    NODE_NET_EV_UP,       /* the peer proved s->peer.key; an acceptor must send
                             data[0..len), its own reply, if it accepts the peer */
    NODE_NET_EV_FRAME,    /* an application frame data[0..len), in the caller's scratch */
};

struct node_net_ev {
    int kind;
    const uint8_t *data; /* valid until the next call on the session */
    size_t len;
};

/* One side of one connection.  Init in place; no allocation; deinit wipes keys. */
struct node_net_sess {
    uint8_t state;
    bool initiator;
    size_t max_frame;
    const uint8_t *sk; /* borrowed: the owner's Ed25519 secret key, outlives the session */
    uint8_t eph_sk[32];
    uint8_t hello[NODE_NET_HELLO_MAX]; /* ours, to send first */
    size_t hello_len;
    uint8_t peer_hello[NODE_NET_HELLO_MAX];
    size_t peer_hello_len;
    struct node_net_hello me;
    struct node_net_hello peer; /* valid from EV_SEND on */
    uint8_t transcript[32];
    uint8_t rx_key[32];
    uint8_t reply[NODE_NET_REPLY_BYTES];
    uint64_t frames_in;
    crypto_secretstream_xchacha20poly1305_state tx, rx;
    char why[NODE_NET_WHY_BYTES]; /* after an error: a sentence for the log */
};

/* Start a session: identity pk/sk (sk borrowed), our chain id (1..128 bytes),
 * the largest plaintext frame we accept, and a fresh ephemeral X25519 key
 * pair (crypto_kx_keypair; tests and fuzzing pass fixed ones).  Our hello is
 * then in s->hello[0..s->hello_len).  Returns OK or INVALID_ARG. */
NODE_NET_MUST_USE int node_net_sess_init(struct node_net_sess *s, bool initiator,
                                         const uint8_t pk[static 32], const uint8_t *sk,
                                         const char *chain_id, size_t max_frame,
                                         const uint8_t eph_pk[static 32],
                                         const uint8_t eph_sk[static 32]);

/* Feed the bytes received so far, in[0..len) (the caller keeps unconsumed
 * bytes and passes them again with more appended).  Consumes at most one unit
 * (a hello, a stream header or a frame): OK with *used bytes consumed and *ev
 * set; NEED_MORE with ev->len the total contiguous bytes needed for the next
 * unit (> len); or an error code with s->why saying why, after which the
 * session is FAILED.  Application frames are decrypted into scratch, which
 * must hold max_frame bytes.  Errors: BAD_MAGIC, BAD_VERSION, BAD_HELLO,
 * WRONG_CHAIN, SELF, FRAME_TOO_LARGE, FRAME_TOO_SHORT, DECRYPT, BAD_AUTH. */
NODE_NET_MUST_USE int node_net_sess_input(struct node_net_sess *s, const uint8_t *in, size_t len,
                                          uint8_t *scratch, size_t *used /* OUT */,
                                          struct node_net_ev *ev /* OUT */);

/* Encrypt one application frame pt[0..len) into out[0..4 + len + ABYTES).
 * The session must be UP.  Returns OK or TOO_LARGE (len > UINT32_MAX - ABYTES). */
NODE_NET_MUST_USE int node_net_sess_seal(struct node_net_sess *s, const uint8_t *pt, size_t len,
                                         uint8_t *out);

/* Wipe the session's keys.  Accepts NULL. */
void node_net_sess_deinit(struct node_net_sess *s);

#endif
