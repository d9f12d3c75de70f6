/* `agentd model generate` and `agentd model bench`: the forward pass and
 * the sampler by hand. Both take argv with argv[0] = "model" and argv[1]
 * the command, and return the exit status (0; 1 on a failure while
 * computing; 2 on bad usage or a model that cannot be loaded). */
#ifndef AGENTD_ENGINE_ENGINE_RUN_H
#define AGENTD_ENGINE_ENGINE_RUN_H

#include <stddef.h>
#include <stdint.h>

int engine_run_generate(int argc, char **argv);
int engine_run_bench(int argc, char **argv);

/* Reads flag's value text as a whole number in [min, max] into *out;
 * -EINVAL with a message naming the flag in err. */
int engine_run_flag_uint(const char *flag, const char *text, uint64_t min, uint64_t max, uint64_t *out, char *err,
			 size_t errlen);

#endif
