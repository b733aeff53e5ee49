/* node_http_client.h -- a small blocking HTTP/1.1 client for gridctl's JSON-RPC calls.
 *
 * One request per connection (Connection: close), a bounded response
 * (NODE_HTTP_MAX_RESPONSE_BYTES), a timeout on connect, send and receive.
 * Only plain http:// URLs: gridctl talks to a node on the same machine or
 * over a trusted tunnel, and verifies what it reads as a light client
 * (node_lightclient.h) rather than trusting the transport. */
#ifndef NODE_HTTP_CLIENT_H
#define NODE_HTTP_CLIENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define NODE_HTTP_MAX_RESPONSE_BYTES (64u << 20)
#define NODE_HTTP_TIMEOUT_MS 15000
#define NODE_HTTP_DEFAULT_URL "http://127.0.0.1:26657"

struct node_http_url {
    char host[256];
    uint16_t port;
    char path[256]; /* "/" when the URL has none */
};

/* "http://HOST:PORT[/PATH]" (HOST may be [v6]).  Returns 0, or -1 with a
 * message in err. */
int node_http_parse_url(const char *url, struct node_http_url *out /* OUT */, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* POST body (application/json) and read the whole response.  *resp is
 * malloc'd and NUL-terminated (caller frees).  Returns 0 with the HTTP
 * status in *status, or -1 with a message in err (connection refused,
 * timeout, response too large or not HTTP). */
int node_http_post(const struct node_http_url *u, const char *body, size_t len, int *status /* OUT */,
                   char **resp /* OUT */, size_t *resp_len /* OUT */, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* node_http_post with extra header lines (each "Name: value\r\n"; NULL for
 * none; at most ~500 bytes): the shadow-centre API's signature header. */
int node_http_post_ex(const struct node_http_url *u, const char *extra_headers, const char *body, size_t len,
                      int *status /* OUT */, char **resp /* OUT */, size_t *resp_len /* OUT */, char *err,
                      size_t errlen) __attribute__((warn_unused_result));

/* One JSON-RPC call: params is stolen (NULL for none).  Returns the result
 * (a new reference), or NULL with a message in err; when the node answered
 * with a JSON-RPC error, *rpc_code is its code (else 0) and *rpc_data its
 * data (a new reference or NULL; pass rpc_data NULL to ignore it). */
json_t *node_rpc_call(const struct node_http_url *u, const char *method, json_t *params, int *rpc_code,
                      json_t **rpc_data, char *err, size_t errlen);

#endif
