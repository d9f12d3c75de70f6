/* `agentd model bench --parallel N ...`: the serving engine under load
 * (serve_bench.c). */
#ifndef AGENTD_ENGINE_SERVE_BENCH_H
#define AGENTD_ENGINE_SERVE_BENCH_H

/* argv[0] is "model", argv[1] "bench"; returns the exit status (0; 1 on a
 * failure while running; 2 on bad usage or a model that cannot be used). */
int serve_bench_run(int argc, char **argv);

#endif
