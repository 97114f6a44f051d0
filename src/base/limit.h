/*
 * limit.h: every limit rowcast enforces, as named constants with the reason for each number.
 * Included by any module that checks a limit; constants only, no state. (The version comes from
 * CMakeLists.txt as ROWCAST_VERSION.)
 */
#ifndef ROWCAST_LIMIT_H
#define ROWCAST_LIMIT_H

/* Request bodies and WebSocket messages: 1 MiB (API.md). Large enough for a batch of a few thousand
 * ordinary rows, small enough that 256 concurrent writers cannot exhaust memory. */
#define LIMIT_BODY_BYTES (1024 * 1024)

/* JSON nesting: a row is an object of scalars (a BLOB is one more level); a batch adds one level. 16 leaves
 * room for clients that wrap, and refuses the deep-nesting attacks long before cJSON's own 1000. */
#define LIMIT_JSON_DEPTH 16

/* Filters per query: one per column is the realistic maximum; 64 keeps the generated SQL small. */
#define LIMIT_FILTERS 64

/* Values in one in.(...) list: bounded so one request binds at most a few thousand parameters. */
#define LIMIT_IN_VALUES 1000

/* Columns named in select= or order=: SQLite's default maximum column count is 2000. */
#define LIMIT_QUERY_COLUMNS 256

/* Columns in order=: each one adds a term to the keyset condition of every later page (quadratic SQL). */
#define LIMIT_ORDER_COLUMNS 16

/* Rows per page: default and cap (API.md). */
#define LIMIT_PAGE_DEFAULT 100
#define LIMIT_PAGE_MAX 1000

/* Rows in one POST batch: each row is one INSERT in one transaction; bounds the time the write lock is held. */
#define LIMIT_BATCH_ROWS 10000

/* Group commit (store_group.c): the writes that queued while a commit was under way run in the next
 * transaction, at most this many rows and (roughly) bytes of JSON body. 512 rows is four groups' worth of
 * the 128 clients the benchmark drives, committed in a few ms, so the first write of the next group waits
 * one short commit, not a long one; 4 MiB bounds what one commit appends to the WAL and the answers held
 * until it ends. A write larger than either bound (a big batch) forms a group of its own. */
#define LIMIT_GROUP_ROWS 512
#define LIMIT_GROUP_BYTES (4 * 1024 * 1024)

/* Query string length: filters and cursors fit in a few KiB; CivetWeb caps the whole request head anyway. */
#define LIMIT_QUERY_BYTES (16 * 1024)

/* The request line ("METHOD TARGET HTTP/1.1"): room for a query of LIMIT_QUERY_BYTES and 1 KiB of method,
 * path and version (17 KiB). Past it: 414. */
#define LIMIT_REQUEST_LINE_BYTES (17 * 1024)

/* The header lines together ("Name: value\r\n" each): 16 KiB holds any browser's cookies and a long
 * bearer token, as nginx's and Node's default do. Past it: 431. */
#define LIMIT_HEADER_BYTES (16 * 1024)

/* Header lines per request: CivetWeb keeps 64 and drops the rest without a word, so the limit is one less:
 * a request that shows 64 may have had more (an Origin past them would never be checked). Past it: 431. */
#define LIMIT_HEADER_COUNT 63

/* CivetWeb's buffer for one request head (its max_request_size): the request line, the header lines and
 * their blank lines at their limits, and 1 KiB more so that a head a little past a limit still arrives and
 * gets the precise 414/431. A head that fills the buffer gets 431 too. */
#define LIMIT_HEAD_BUFFER_BYTES (34 * 1024)

/* How long a request head, and then a request body, may take to arrive (CivetWeb's request_timeout_ms
 * for the head; rowcast's own deadline for the body, however it trickles in). Past it: 408. */
#define LIMIT_REQUEST_MS 10000

/* How long a stop (SIGINT, SIGTERM) waits for waiting GET /api/changes requests to answer before CivetWeb
 * stops, and how often it looks. */
#define LIMIT_STOP_DRAIN_MS 2000
#define LIMIT_STOP_POLL_MS 10

/* The NATS connection (src/cluster/nats_conn.c): a server that is down is tried again every 250 ms, without
 * end (a restarted server is back in use within a quarter second; a try costs one refused connect); a
 * connect attempt that gets no answer gives up after 2 s (the client's default); a stop waits up to 5 s for
 * the client's threads. */
#define NATS_RECONNECT_WAIT_MS 250
#define NATS_CONNECT_TIMEOUT_MS 2000
#define NATS_CLOSE_WAIT_MS 5000
/* Ended subscriptions wait to be freed (nats_conn_sub_end) until a PING round trip shows the client's reader
 * is past them: the follower's loop asks for one when it has nothing to do, and the thread that ends the
 * 64th asks itself (a follower forwarding writes ends one per write); the round trip takes a fraction of a
 * millisecond, and a NATS that does not answer within 1 s leaves them for the next try. */
#define NATS_REAP_AT 64
#define NATS_REAP_WAIT_MS 1000

/* The primary's publisher (src/cluster/publish.c): changes read from the log per batch; how many changes,
 * and how many bytes of them, may be in flight (handed to NATS, the stream's answer not back yet: the
 * client keeps a copy of each until then; 256 keep the stream busy on loopback, where an answer takes about
 * 0.1 ms, and bound the copies to a few MiB of ordinary rows); how long the stream may take to acknowledge
 * one (NATS's own default wait); how long another primary may take to answer (nobody there is answered at
 * once by NATS: "no responders"); how often a publisher that waits for NATS or for changes looks whether it
 * should stop, and whether its answers are late; how many times in a row the stream may move under it
 * before it concludes that another publisher writes to it. */
#define PUBLISH_BATCH 256
#define PUBLISH_INFLIGHT_MAX 256
#define PUBLISH_INFLIGHT_BYTES (4 * 1024 * 1024)
/* Room left in a NATS message for the headers the publisher sets (Msg-Id, expected last sequence and Msg-Id,
 * about 150 bytes, and the protocol line): a change longer than the server's max_payload minus this is
 * published as a marker of its seq ({"seq":N,"ts":0,"too_large":true}) and followers load a snapshot. */
#define PUBLISH_HEADER_ROOM 1024
#define PUBLISH_ACK_WAIT_MS 5000
#define PUBLISH_PRIMARY_ASK_MS 1000
#define PUBLISH_NAP_MS 200
#define PUBLISH_WRONG_MAX 3

/* Cluster snapshots (src/cluster/snapshot_serve.c): at most 4 kept at once (each a copy of the exposed
 * tables), deleted 60 s after their last chunk request; chunks of 4 KiB to 512 KiB, under NATS's 1 MiB
 * payload limit; a stop waits up to 5 s for requests in progress. */
#define SNAPSHOT_MAX 4
#define SNAPSHOT_KEEP_MS 60000
#define SNAPSHOT_CHUNK_MIN 4096
#define SNAPSHOT_CHUNK_MAX (512 * 1024)
#define SNAPSHOT_DRAIN_MS 5000
/* At a stop, how long the NATS server has to answer a PING before the drains above are skipped: a server
 * on the same network answers in milliseconds; one that does not is stuck, and every drain would wait for
 * its limit. */
#define NATS_STOP_PING_MS 1000
/* How long a snapshot's answer waits for its seq to reach the stream, to tell the follower where in the
 * stream the next changes are (past it: "stream_seq" 0, and the follower reads the stream from its start). */
#define SNAPSHOT_STREAM_WAIT_MS 5000

/* The follower (src/cluster/follow.c, snapshot_load.c). A snapshot's answer may take a while: the primary
 * copies the whole database (VACUUM INTO: about 100 MB/s here) and waits up to SNAPSHOT_STREAM_WAIT_MS for
 * its seq to reach the stream, so 60 s; a chunk (at most 512 KiB read from a file) 10 s. The apply thread
 * waits for the next change 500 ms at a time; when none came, it asks the stream for its last change (so
 * /healthz's primary_seq is current while idle), and when the stream holds changes it has not applied for
 * 3 such looks in a row its subscription is made again (the consumer went away, e.g. with a NATS restart).
 * After a failure that may pass (NATS down, a refused or broken snapshot, the database busy) it tries again
 * after 1 s. */
#define FOLLOW_SNAPSHOT_WAIT_MS 60000
#define FOLLOW_CHUNK_WAIT_MS 10000
#define FOLLOW_POLL_MS 500
#define FOLLOW_STALL_LOOKS 3
#define FOLLOW_RETRY_MS 1000
/* A follower applies the changes already queued for it in one transaction (src/cluster/follow.c): at most
 * FOLLOW_BATCH changes or FOLLOW_BATCH_BYTES of change text, so a catch-up commits (and its subscribers
 * see it) every few milliseconds and the WAL grows by a few MiB at a time. APPLY_STMTS statements are
 * kept prepared on the follower's connection while the schema stays the same (src/store/apply.c): 3 per
 * table written, 1 for the log. */
#define FOLLOW_BATCH 1000
/* The stream's messages a follower has handled are let go FOLLOW_SPENT at a time (and when the stream is
 * quiet): libnats frees messages on a collector thread that the first one let go wakes, so letting go of
 * each as it is handled costs a thread wake-up per change at a low rate. 64 small messages held at most. */
#define FOLLOW_SPENT 64
/* A batch of at most FOLLOW_READ_NOW changes is read into the feed's ring by the apply thread itself, right
 * after its commit (no other thread's wake-up between the commit and the subscribers); a larger one (a
 * catch-up) is left to the feed thread, which reads it while the apply thread goes on with the next batch
 * (reading 1,000 changes back takes a few milliseconds: done in line, a catch-up ran 25% slower). */
#define FOLLOW_READ_NOW 32
#define FOLLOW_BATCH_BYTES (4 * 1024 * 1024)
#define APPLY_STMTS 16
/* The statements a follower's connection keeps for transactions, savepoints, the schema version and the log's
 * bounds (apply.c). */
#define APPLY_FIXED 8
/* NATS's request timeout for the JetStream API calls the follower makes (stream info, one message, making
 * its consumer): the server answers them in milliseconds; a stop waits for the one in progress. */
#define FOLLOW_JS_WAIT_MS 2000
/* The heartbeat a follower's consumer asks the server for when nothing flows (libnats's ordered consumers
 * use the same 5 s): it carries the consumer's last delivered sequence, so a message lost on the way ends
 * the subscription (NATS_MISMATCH) and the follower subscribes again. */
#define FOLLOW_HEARTBEAT_MS 5000
/* How long the server keeps a follower's consumer once nobody reads it (a subscription ended, a follower
 * stopped or killed): the server's own default for ephemeral consumers. */
#define FOLLOW_CONSUMER_IDLE_MS 5000
/* At start, how long a follower waits for another program's write lock on its copy before it refuses to
 * run (src/store/store_copy.c): a commit in progress ends well within it; a program that holds the lock
 * longer is writing the file. */
#define FOLLOW_FOREIGN_LOCK_MS 1000

/* Writes on a follower, forwarded to the primary (src/cluster/forward.c). The primary may wait up to
 * LIMIT_BUSY_TIMEOUT_MS for its write lock and runs forwarded writes one after the other, so its answer is
 * waited for 10 s; past that the follower answers 504 (the write may have been applied). Then the follower
 * waits up to 5 s for the write's change to arrive and be applied here (milliseconds, normally; a follower
 * loading a snapshot takes longer), and past that answers anyway, saying so (Rowcast-Not-Applied). */
#define FORWARD_WAIT_MS 10000
#define FORWARD_APPLY_WAIT_MS 5000

/* Open WebSockets from one client address, unless --sockets-per-address says otherwise: dozens of tabs
 * of one person fit, and no single host can take every worker. Past it: 429. */
#define LIMIT_SOCKETS_PER_ADDRESS 64

/* Default worker threads: 256 concurrent connections (API.md) plus a reserve for plain HTTP. */
#define LIMIT_THREADS_DEFAULT 272
/* The most: 10,000 WebSockets and a reserve, measured held by one node on a 2-core VM (bench/ceiling.sh;
 * about 16 KiB of RSS per idle worker, 34 KiB per open socket). */
#define LIMIT_THREADS_MAX 10240

/* Each connection's private page cache (KiB) and the memory map every connection reads pages through:
 * with up to --threads connections, private caches must stay small; the map is the OS page cache, shared. */
#define STORE_CACHE_KIB_TEXT "512"
#define STORE_MMAP_BYTES_TEXT "268435456"

/* WAL pages past which the checkpoint thread copies the WAL back into the database (SQLite's own
 * auto-checkpoint default, 4 MiB of 4 KiB pages); it also looks every STORE_CHECKPOINT_MS in any case. */
#define STORE_CHECKPOINT_PAGES 1000
#define STORE_CHECKPOINT_MS 1000
/* At least this long between two checkpoints (each one fsyncs; back to back they cost a tenth of the write
 * rate), and past this many WAL pages a checkpoint holds rowcast's writes off for its last few frames so
 * the WAL starts over (a steady stream of writes otherwise keeps it from ever doing so). */
#define STORE_CHECKPOINT_GAP_MS 10
#define STORE_CHECKPOINT_HIGH_PAGES 2000

/* malloc's trim threshold and top pad (store.c): memory at the top of a thread's heap is given back to the
 * kernel only past 4 MiB, and a heap grows 1 MiB at a time. Connections free their cached pages after every
 * other connection's commit and take them again at once; with the defaults (128 KiB, none) each such cycle
 * was an madvise and a run of page faults, 40% of a POST's CPU. At most 4 MiB stays with each of malloc's
 * arenas (8 per core). */
#define STORE_MALLOC_TRIM_BYTES (4 * 1024 * 1024)
#define STORE_MALLOC_TOP_PAD_BYTES (1024 * 1024)

/* Busy timeout for SQLite connections: how long a write waits for another process's lock before 503. */
#define LIMIT_BUSY_TIMEOUT_MS 5000

/* A table or column name longer than this cannot come from a sane schema; request names longer are 404/400. */
#define LIMIT_NAME_BYTES 1024

/* The feed's ring of recent changes, shared by every client: a client further behind than this is served
 * from the database (replay) or told to resync. 16384 changes is minutes of a busy board; 64 MiB caps it
 * when rows are large. */
#define FEED_RING_CHANGES 16384
#define FEED_RING_BYTES (64 * 1024 * 1024)

/* Changes read from the log per query: bounds the feed's stack use and each read's duration. */
#define FEED_READ_BATCH 128

/* Fallback check for commits when inotify says nothing (another mount, a full event queue): 250 ms. */
#define FEED_POLL_MS 250

/* After a file event, how long and how often the feed looks for the commit that caused it. */
#define FEED_SETTLE_MS 500
#define FEED_SETTLE_POLL_MS 2

/* How often the log is pruned to --retain. */
#define FEED_PRUNE_MS 1000

/* After a failed trigger sync, how long the upkeep waits before it tries again (each try itself waits up to
 * LIMIT_BUSY_TIMEOUT_MS for another program's lock, so a lock let go is caught at once). */
#define FEED_UPKEEP_RETRY_MS 100

/* The replay cache: changes older than the ring, loaded for clients that replay a backlog, in blocks of up
 * to FEED_REPLAY_BLOCK changes or FEED_REPLAY_BLOCK_BYTES of them (a few milliseconds of reading each, and
 * about what one sender round writes), shared by every client replaying the same range. FEED_REPLAY_BYTES
 * bounds the cache (the least recently read blocks go first): eight blocks, enough for a few clients each
 * reading one block and the next one ahead. */
#define FEED_REPLAY_BLOCK 1024
#define FEED_REPLAY_BLOCK_BYTES (4 * 1024 * 1024)
#define FEED_REPLAY_BYTES (32 * 1024 * 1024)

/* Loads waiting for the loader thread: one or two per replaying client; past it a request is dropped and
 * asked again at the client's next round. */
#define FEED_REPLAY_REQUESTS 64

/* After a load failed, how long its range answers an error before it is read again. */
#define FEED_REPLAY_RETRY_MS 1000

/* Subscriptions one socket may hold: one per table and a few filtered views is the real use. */
#define LIMIT_SUBSCRIPTIONS 64
#define LIMIT_SUBSCRIPTIONS_TEXT "64"

/* WebSocket senders shared by every client: measured best at one or two on this class of machine
 * (LIBRARIES.md); they never block on a client, so two keep both cores busy under fan-out. */
#define LIVE_SENDERS 2

/* Stack of the writer thread a TLS client gets (it only runs CivetWeb's mg_write and OpenSSL's record
 * layer): ample, sanitizer builds included, where the default would reserve 8 MiB per socket. */
#define LIVE_WRITER_STACK_BYTES (256 * 1024)

/* Unsent bytes allowed in one client's socket before the senders stop writing to it; with the socket's
 * send buffer set to LIVE_SNDBUF_BYTES a write of at most this much never blocks. */
#define LIVE_MAX_OUTQ (512 * 1024)
#define LIVE_SNDBUF_BYTES (4 * 1024 * 1024)

/* One write to one client: at most what its socket has room for, this many bytes and
 * LIVE_CHANGES_PER_ROUND changes; then the next client's turn, so one busy client cannot starve others. */
#define LIVE_BATCH_BYTES (4 * 1024 * 1024) /* also the largest single frame: a 1 MiB row before and after */
#define LIVE_BATCH_BYTES_TEXT "4 MiB"     /* ... in words, for the resync that skips a larger change */
#define LIVE_CHANGES_PER_ROUND 2048

/* Room a socket needs before a round is worth building. */
#define LIVE_MIN_WRITE (16 * 1024)

/* A client whose socket has stayed full for LIVE_LAG_FULL_MS while more than this many changes, or bytes
 * of them, are waiting is told to resync: past that, reloading a snapshot is cheaper for everyone than
 * catching up. The grace keeps a client that replays a long backlog, reading steadily but slower than the
 * sender writes (a cold TCP window), from being told to resync the first time its socket is seen full. */
#define LIVE_MAX_LAG_CHANGES 4096
#define LIVE_MAX_LAG_BYTES (8 * 1024 * 1024)
#define LIVE_LAG_FULL_MS 1000

/* A client whose socket stays full this long (it reads nothing) is cut off. */
#define LIVE_STALL_CLOSE_MS 30000

/* Requests and replies waiting for one client's sender (acks, errors, pongs): a client that sends
 * faster than it reads is cut off past this. */
#define LIVE_INBOX_BYTES (1024 * 1024)

/* How often senders look again at clients that were skipped for a full socket. */
#define LIVE_TICK_MS 50

/* CivetWeb pings a socket after this much silence from its peer (websocket_timeout_ms)... */
#define LIVE_PING_MS 20000
/* ... and rowcast closes a socket whose peer has sent nothing, not even a pong, for two pings: a dead or
 * hostile peer gives its worker back within 40 s. */
#define LIVE_SILENCE_CLOSE_MS (2 * 20000)

/* Worker threads kept for plain HTTP: a new socket is refused (503) past threads - this. */
#define LIVE_RESERVE_THREADS 16

/* Streaming export (GET .../rows as CSV or NDJSON): rows are gathered into one chunk of this size before
 * each write (a few dozen rows per send() at the least, and a worker's whole memory for the export); a
 * client must take each chunk within LIMIT_EXPORT_WRITE_MS (6.4 KB/s), else its socket is shut, so one that
 * stops reading frees its worker and its read transaction (which holds back checkpoints) within seconds. */
#define LIMIT_EXPORT_CHUNK_BYTES (64 * 1024)
#define LIMIT_EXPORT_WRITE_MS 10000
/* A Server-Sent Events stream (GET /api/events) quiet this long gets a comment line: proxies close an HTTP
 * answer idle for 30 to 60 s (nginx's proxy_read_timeout is 60 s), and the WHATWG standard suggests 15 s. */
#define LIVE_SSE_HEARTBEAT_MS 15000
/* How often an SSE stream's worker looks whether its client went away (or was cut off) between reads. */
#define LIVE_SSE_POLL_MS 1000

/* A JSON Web Token: 8 KiB, nginx's default header buffer, far above a token with a few dozen claims signed
 * RS256 (about 1 KB), and small enough that decoding one costs microseconds. A longer one is refused (401). */
#define LIMIT_JWT_BYTES 8192

/* Tokens remembered once verified (auth.c), so a client repeating its token is not verified again: 256
 * slots hold every client of a busy page at once and cost at most 256 x 8 KiB when every token is huge. */
#define LIMIT_TOKEN_CACHE 256

/* Alternatives in one rule of the rules file (a list of rules allowed when any allows), and rules files of
 * at most 1 MiB: each alternative is matched against every change a subscriber is sent. */
#define LIMIT_RULE_ALTS 16
#define LIMIT_RULES_FILE_BYTES (1024 * 1024)

#endif
