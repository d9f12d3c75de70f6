/* `agentd model generate` and `agentd model bench`: the forward pass and
 * the sampler by hand. Both take argv with argv[0] = "model" and argv[1]
 * the command, and return the exit status (0; 1 on a failure while
 * computing; 2 on bad usage or a model that cannot be loaded). */
#ifndef AGENTD_ENGINE_ENGINE_RUN_H
#define AGENTD_ENGINE_ENGINE_RUN_H

int engine_run_generate(int argc, char **argv);
int engine_run_bench(int argc, char **argv);

#endif
