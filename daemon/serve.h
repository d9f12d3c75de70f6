/* `agentd serve`: the daemon's start-up, event loop and shutdown. */
#ifndef AGENTD_SERVE_H
#define AGENTD_SERVE_H

struct config;

/* Runs the daemon until SIGTERM/SIGINT; returns the process exit status
 * (0 after a clean shutdown, 1 when start-up failed). */
int serve_run(const struct config *cfg);

#endif
