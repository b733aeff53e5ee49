/* node_net.h -- gridnode's P2P transport: authenticated, encrypted frames
 * between the nodes of one chain over TCP, on a libevent event_base.
 *
 * Each connection starts with a handshake in which both sides prove their
 * Ed25519 node key over fresh X25519 keys (libsodium crypto_kx) and the chain
 * id; then every frame is length-prefixed and sealed with
 * crypto_secretstream_xchacha20poly1305 (wire format in node_net_proto.h).
 * Frames are opaque bytes here; node/ defines what is inside them.
 *
 * Peers: cfg->peers[i] is peer id i.  The transport dials every configured
 * peer that has a port (skipping our own key, so the validator list may be
 * passed as is) and redials with capped exponential backoff and jitter while
 * it is down; it accepts connections on listen_host:listen_port.  When two
 * nodes dial each other at once, both keep the connection dialed by the
 * lower key (a second connection dialed by the same side replaces the first:
 * the dialer only dials when it has none, so the older one is stale).  A peer
 * that fails the handshake, proves an unknown key (unless accept_unknown), is
 * on another chain, sends an oversize or undecryptable frame, or lets its
 * write queue grow past max_queue is dropped with one log line saying why:
 *
 *   net: dropped 127.0.0.1:40512: chain id "other" is not ours ("gridledger-testnet")
 *
 * Everything runs on the caller's event_base thread; callbacks come from
 * inside event_base_loop.  Callbacks may call node_net_send and
 * node_net_broadcast, but not node_net_close. */
#ifndef NODE_NET_H
#define NODE_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "node_net_proto.h"

struct event_base;
struct node_net;

#define NODE_NET_MAX_FRAME (16u << 20) /* plaintext bytes per frame */

/* Defaults of the optional fields below (0 selects them). */
#define NODE_NET_HANDSHAKE_MS_DEFAULT   5000u
#define NODE_NET_BACKOFF_MIN_MS_DEFAULT 100u
#define NODE_NET_BACKOFF_MAX_MS_DEFAULT 5000u
#define NODE_NET_MAX_QUEUE_DEFAULT      (64u << 20) /* bytes; at least 2 full frames */
#define NODE_NET_MAX_UNKNOWN_PEERS      1024u       /* ids handed to accept_unknown nodes */

struct node_net_peer {
    uint8_t key[32];
    char host[64];
    uint16_t port; /* 0: don't dial */
};

struct node_net_cfg {
    const char *chain_id; /* 1..NODE_NET_CHAIN_ID_MAX bytes */
    uint8_t pk[32];
    uint8_t sk[64]; /* this node's Ed25519 identity */
    const char *listen_host;
    uint16_t listen_port; /* port 0: don't listen */
    const struct node_net_peer *peers;
    size_t npeers;       /* the known nodes; peer id = index */
    bool accept_unknown; /* accept authenticated nodes not in peers (observers, new nodes):
                            they get ids >= npeers, stable for the life of the node_net */
    size_t max_frame;    /* 0: NODE_NET_MAX_FRAME */
    void (*on_frame)(void *ctx, uint32_t peer, const uint8_t *buf,
                     size_t len); /* buf valid during the call */
    void (*on_peer)(void *ctx, uint32_t peer, bool up);
    void *ctx;
    /* ---- additive, optional (zero selects the default) ---- */
    void (*on_log)(void *ctx, const char *line); /* NULL: one line to stderr */
    uint32_t handshake_ms;                       /* connect + handshake deadline */
    uint32_t backoff_min_ms;                     /* first redial delay; doubles per failure ... */
    uint32_t backoff_max_ms; /* ... up to this cap; each delay jittered into [d/2, d] */
    size_t max_queue;        /* bytes waiting to be written to one peer before it is dropped */
};

/* Open the transport on base: copy cfg (peers included; chain_id and keys are
 * copied too), listen if listen_port != 0 and start dialing.  Errors:
 * INVALID_ARG (chain id length, max_frame, NULL callback), LISTEN, NOMEM. */
NODE_NET_MUST_USE int node_net_open(struct node_net **out, struct event_base *base,
                                    const struct node_net_cfg *cfg);

/* Queue one frame to peer.  Errors: PEER_DOWN (unknown id, ourselves, or not
 * connected and authenticated), TOO_LARGE (len > max_frame), QUEUE_FULL (the
 * peer was too slow and has been dropped, with a log line). */
NODE_NET_MUST_USE int node_net_send(struct node_net *n, uint32_t peer, const uint8_t *buf,
                                    size_t len);

/* node_net_send to every connected peer; failures are logged, not returned. */
void node_net_broadcast(struct node_net *n, const uint8_t *buf, size_t len);

/* Connected and authenticated peers. */
size_t node_net_peers_up(const struct node_net *n);

/* Is peer connected and authenticated? */
bool node_net_peer_up(const struct node_net *n, uint32_t peer);

/* The key of peer id (configured or accepted unknown): OK or PEER_DOWN if no
 * such id. */
NODE_NET_MUST_USE int node_net_peer_key(const struct node_net *n, uint32_t peer,
                                        uint8_t key[static 32] /* OUT */);

/* Close every connection and the listener, cancel timers, free n.  Calls no
 * callback.  Accepts NULL.  Not from inside a callback. */
void node_net_close(struct node_net *n);

#endif
