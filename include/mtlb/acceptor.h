/* Acceptor threads (acceptor.c; acceptor_hs.c, acceptor_linger.c): accept, TLS handshake,
 * handoff to a worker. */
#ifndef MTLB_ACCEPTOR_H
#define MTLB_ACCEPTOR_H

struct mtlb_server;
struct mtlb_acceptor;

/* Main thread: an acceptor that waits on every srv->listen_fds (the server keeps ownership
 * and closes them after the acceptors are joined). 0 or -errno; *out is set either way and
 * must go to mtlb_acceptor_join_destroy. */
int mtlb_acceptor_create(struct mtlb_server *srv, unsigned index, struct mtlb_acceptor **out);
/* Starts its thread. 0 or -errno. */
int mtlb_acceptor_start(struct mtlb_acceptor *a);
/* Joins its thread (if started; srv->stop ends it), drops the handshakes still pending and
 * frees a. NULL is ignored. */
void mtlb_acceptor_join_destroy(struct mtlb_acceptor *a);

#endif
