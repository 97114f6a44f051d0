/*
 * deadline.h: a deadline on reading a request body. CivetWeb's mg_read waits as long as bytes keep
 * trickling in (its timeout is per read, not per body), so a worker reading a body arms a deadline on its
 * socket; when it passes, a watchdog thread shuts the socket's reading side, which ends the read at once
 * and leaves the writing side open for the 408. A WebSocket arms a silence deadline: its peer's socket is
 * shut the same way when the peer has sent nothing for that long (CivetWeb answers pings and swallows pongs
 * without telling its handlers, so the kernel's count of the last data received is what tells). A streamed
 * answer (an export) arms a deadline on each write, shutting the socket both ways when the peer has not
 * taken the bytes in time. Any
 * worker thread arms and disarms; one watchdog thread.
 */
#ifndef ROWCAST_DEADLINE_H
#define ROWCAST_DEADLINE_H

#include "error.h"

#include <stddef.h>

/* Starts the watchdog with room for slots armed deadlines at once (one per worker thread). Returns 0, or
 * -1 with err filled (nothing started). */
int deadline_start(int slots, struct error *err);

/* Stops the watchdog and frees the slots; every deadline must be disarmed first. */
void deadline_stop(void);

/* Arms a deadline ms milliseconds from now on socket fd. Returns the slot to disarm, or -1 when fd is
 * negative, the watchdog is not running or every slot is taken (the read then has no deadline). */
int deadline_arm(int fd, int ms);

/* Arms a deadline on a write: when ms milliseconds pass before deadline_disarm, the socket is shut both
 * ways, which ends a write waiting on a peer that stopped reading at once (it then fails). Returns the slot,
 * or -1 as deadline_arm does. */
int deadline_arm_write(int fd, int ms);

/* Arms a silence deadline on socket fd: it fires once the peer has sent nothing at all (no frame, no pong)
 * for ms milliseconds, as the kernel counts it (TCP_INFO), and moves on by itself while the peer talks.
 * Returns the slot, or -1 as deadline_arm does. */
int deadline_arm_silence(int fd, int ms);

/* Disarms slot (a deadline_arm result; -1 is ignored). Once it returns, the watchdog no longer touches
 * the socket, so it may be closed. Returns 1 when the deadline had passed and the socket was shut. */
int deadline_disarm(int slot);

#endif
