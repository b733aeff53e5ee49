/* mb_ckpt.h -- the open slot's accumulator, checkpointed after every poll.
 *
 * Written in place without fsync (one pwrite per poll: it survives a killed
 * gridmeter, and a power cut only loses recent samples, which the slot rules
 * then flag as a gap).  It never decides what was already sent: the queue's
 * slot high-water mark does, durably.  A damaged checkpoint, or one made
 * under other slot parameters, is refused (STATE_CORRUPT) and the slot starts
 * afresh, flagged GAP. */
#ifndef MB_CKPT_H
#define MB_CKPT_H

#include "mb_err.h"
#include "mb_slot.h"

struct mb_ckpt {
    int fd;
    unsigned char params_digest[32];
};

/* Open (create) queue_dir/slot.ckpt.  Errors: IO. */
int mb_ckpt_open(struct mb_ckpt *c /* OUT */, const char *dir,
                 const struct mb_slot_params *p) MB_MUST_USE;
void mb_ckpt_close(struct mb_ckpt *c);
/* Errors: STATE_CORRUPT (absent, damaged or other parameters: acc is reset). */
int mb_ckpt_load(struct mb_ckpt *c, struct mb_slot_acc *acc /* OUT */) MB_MUST_USE;
/* Errors: IO. */
int mb_ckpt_save(struct mb_ckpt *c, const struct mb_slot_acc *acc) MB_MUST_USE;

#endif
